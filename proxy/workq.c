#include "proxy/workq.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/time.h>

struct job {
    struct job *next;
    struct event_base *base;
    pg_work_fn work, done;
    void *arg;
};

static pthread_mutex_t wq_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wq_cv = PTHREAD_COND_INITIALIZER;
static struct job *wq_head, *wq_tail;
static pthread_t *wq_threads;
static int wq_nthreads;
static bool wq_stopping;

static void run_done(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct job *j = arg;
    j->done(j->arg);
    free(j);
}

static void *wq_main(void *arg)
{
    (void)arg;
    for (;;) {
        pthread_mutex_lock(&wq_mu);
        while (!wq_head && !wq_stopping)
            pthread_cond_wait(&wq_cv, &wq_mu);
        struct job *j = wq_head;
        if (!j) {
            pthread_mutex_unlock(&wq_mu);
            return NULL;
        }
        wq_head = j->next;
        if (!wq_head)
            wq_tail = NULL;
        pthread_mutex_unlock(&wq_mu);

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

int pg_workq_start(int threads)
{
    if (threads < 1)
        threads = 1;
    wq_threads = calloc((size_t)threads, sizeof *wq_threads);
    if (!wq_threads)
        return -1;
    wq_stopping = false;
    for (int i = 0; i < threads; i++) {
        if (pthread_create(&wq_threads[i], NULL, wq_main, NULL) != 0) {
            wq_nthreads = i;
            pg_workq_stop();
            return -1;
        }
    }
    wq_nthreads = threads;
    return 0;
}

void pg_workq_stop(void)
{
    pthread_mutex_lock(&wq_mu);
    wq_stopping = true;
    pthread_cond_broadcast(&wq_cv);
    pthread_mutex_unlock(&wq_mu);
    for (int i = 0; i < wq_nthreads; i++)
        pthread_join(wq_threads[i], NULL);
    free(wq_threads);
    wq_threads = NULL;
    wq_nthreads = 0;
}

int pg_workq_submit(struct event_base *base, pg_work_fn work, pg_work_fn done, void *arg)
{
    struct job *j = malloc(sizeof *j);
    if (!j)
        return -1;
    *j = (struct job){.base = base, .work = work, .done = done, .arg = arg};
    pthread_mutex_lock(&wq_mu);
    if (wq_nthreads == 0 || wq_stopping) {
        pthread_mutex_unlock(&wq_mu);
        free(j);
        return -1;
    }
    if (wq_tail)
        wq_tail->next = j;
    else
        wq_head = j;
    wq_tail = j;
    pthread_cond_signal(&wq_cv);
    pthread_mutex_unlock(&wq_mu);
    return 0;
}
