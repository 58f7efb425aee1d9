#include "proxy/workq.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <unistd.h>

struct job {
    struct job *next;
    struct event_base *base;
    pg_work_fn work, done;
    void *arg;
};

struct pool {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct job *head, *tail;
    pthread_t *threads;
    int nthreads;
    int nice;
    bool stopping;
};

static struct pool pools[PG_POOL_COUNT] = {
    [PG_POOL_IO] = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER},
    [PG_POOL_HASH] = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER},
};

static void run_done(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct job *j = arg;
    j->done(j->arg);
    free(j);
}

static void *pool_main(void *arg)
{
    struct pool *p = arg;
    if (p->nice) /* Linux: niceness is per thread, named by its tid */
        setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), p->nice);
    for (;;) {
        pthread_mutex_lock(&p->mu);
        while (!p->head && !p->stopping)
            pthread_cond_wait(&p->cv, &p->mu);
        struct job *j = p->head;
        if (!j) {
            pthread_mutex_unlock(&p->mu);
            return NULL;
        }
        p->head = j->next;
        if (!p->head)
            p->tail = NULL;
        pthread_mutex_unlock(&p->mu);

        j->work(j->arg);
        if (!j->done) {
            free(j);
            continue;
        }
        /* event_base_once is safe across threads once evthread locking is
         * on (pg_server_init enables it). */
        static const struct timeval now = {0, 0};
        if (event_base_once(j->base, -1, EV_TIMEOUT, run_done, j, &now) != 0) {
            /* The loop is gone: nobody can take the result. */
            free(j);
        }
    }
}

int pg_workq_start(enum pg_workq_pool pool, int threads, int nice)
{
    struct pool *p = &pools[pool];
    if (threads < 1)
        threads = 1;
    p->threads = calloc((size_t)threads, sizeof *p->threads);
    if (!p->threads)
        return -1;
    p->stopping = false;
    p->nice = nice;
    for (int i = 0; i < threads; i++) {
        if (pthread_create(&p->threads[i], NULL, pool_main, p) != 0) {
            p->nthreads = i;
            pg_workq_stop(pool);
            return -1;
        }
    }
    p->nthreads = threads;
    return 0;
}

void pg_workq_stop(enum pg_workq_pool pool)
{
    struct pool *p = &pools[pool];
    pthread_mutex_lock(&p->mu);
    p->stopping = true;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < p->nthreads; i++)
        pthread_join(p->threads[i], NULL);
    free(p->threads);
    p->threads = NULL;
    p->nthreads = 0;
}

int pg_workq_submit(enum pg_workq_pool pool, struct event_base *base, pg_work_fn work, pg_work_fn done, void *arg)
{
    struct pool *p = &pools[pool];
    struct job *j = malloc(sizeof *j);
    if (!j)
        return -1;
    *j = (struct job){.base = base, .work = work, .done = done, .arg = arg};
    pthread_mutex_lock(&p->mu);
    if (p->nthreads == 0 || p->stopping) {
        pthread_mutex_unlock(&p->mu);
        free(j);
        return -1;
    }
    if (p->tail)
        p->tail->next = j;
    else
        p->head = j;
    p->tail = j;
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
    return 0;
}
