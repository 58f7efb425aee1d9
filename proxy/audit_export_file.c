#include "proxy/audit_export_file.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_tree.h>

#include "policy/chain.h"
#include "policy/record.h"

/* Records are at most 1 MiB; a longer line is not one phiguard wrote. */
#define MAX_LINE (2u << 20)

char *pg_audit_export_checkpoint_line(const char *chain, const char *note, size_t *len)
{
    struct pg_canon c;
    pg_canon_init(&c);
    pg_canon_begin_object(&c, NULL);
    pg_canon_string(&c, "chain", chain, strlen(chain));
    pg_canon_string(&c, "checkpoint", note, strlen(note));
    pg_canon_end_object(&c);
    char *out = c.failed ? NULL : strndup(c.buf, c.len);
    *len = out ? c.len : 0;
    pg_canon_free(&c);
    return out;
}

static int add_record(struct pg_audit_reader *rd, const char *line, size_t len, const char *only, size_t lineno)
{
    struct pg_record_parsed p;
    char why[200];
    if (pg_record_parse(line, len, &p, why, sizeof why) != 0) {
        snprintf(rd->err, sizeof rd->err, "line %zu: not an audit record: %s", lineno, why);
        return -1;
    }
    int rc = 0;
    if (!only || !strcmp(only, p.rec.writer)) {
        struct pg_audit_stored_chain *c = pg_audit_reader_chain(rd, p.rec.writer);
        char h[PG_HASH_HEX];
        pg_chain_leaf_hash(line, len, h);
        if (!c || pg_audit_chain_add_entry(c, p.rec.seq, line, len, h, strlen(h)) != 0) {
            snprintf(rd->err, sizeof rd->err, "line %zu: out of memory", lineno);
            rc = -1;
        }
    }
    pg_record_parsed_free(&p);
    return rc;
}

static int add_checkpoint(struct pg_audit_reader *rd, const char *line, const char *only, size_t lineno)
{
    yajl_val doc = yajl_tree_parse(line, NULL, 0);
    static const char *chain_path[] = {"chain", NULL}, *note_path[] = {"checkpoint", NULL};
    yajl_val chain = doc ? yajl_tree_get(doc, chain_path, yajl_t_string) : NULL;
    yajl_val note = doc ? yajl_tree_get(doc, note_path, yajl_t_string) : NULL;
    int rc = 0;
    if (!chain || !note) {
        snprintf(rd->err, sizeof rd->err, "line %zu: neither an audit record nor a checkpoint", lineno);
        rc = -1;
    } else if (!only || !strcmp(only, chain->u.string)) {
        struct pg_audit_stored_chain *c = pg_audit_reader_chain(rd, chain->u.string);
        const char *n = note->u.string;
        if (!c || pg_audit_chain_add_note(c, n, strlen(n)) != 0) {
            snprintf(rd->err, sizeof rd->err, "line %zu: out of memory", lineno);
            rc = -1;
        }
    }
    yajl_tree_free(doc);
    return rc;
}

int pg_audit_reader_load_export(struct pg_audit_reader *rd, const char *path, const char *only)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(rd->err, sizeof rd->err, "%s: %s", path, strerror(errno));
        return -1;
    }
    char *line = NULL;
    size_t cap = 0, lineno = 0;
    ssize_t n;
    int rc = 0;
    while (rc == 0 && (n = getline(&line, &cap, f)) >= 0) {
        lineno++;
        size_t len = (size_t)n;
        if (len && line[len - 1] == '\n')
            line[--len] = '\0';
        if (len == 0)
            continue;
        if (len > MAX_LINE || memchr(line, '\0', len)) {
            snprintf(rd->err, sizeof rd->err, "line %zu: not an audit export line", lineno);
            rc = -1;
        } else if (!strncmp(line, "{\"seq\":", 7)) { /* a canonical record starts with its seq */
            rc = add_record(rd, line, len, only, lineno);
        } else {
            rc = add_checkpoint(rd, line, only, lineno);
        }
    }
    if (rc == 0 && ferror(f)) {
        snprintf(rd->err, sizeof rd->err, "%s: read error", path);
        rc = -1;
    }
    free(line);
    fclose(f);
    return rc;
}
