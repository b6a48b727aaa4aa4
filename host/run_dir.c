/* Run directories and the files every run writes into them: configuration, command,
 * manifest; reading and parsing architectures in the configured space's notation. */
#include "host.h"

#include <cnas/dist.h>

#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

char *host_read_text(const char *path, cnas_error *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        cnas_error_set(err, CNAS_ERR_IO, "cannot read %s: %s", path, strerror(errno));
        return NULL;
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)(n > 0 ? n : 0) + 1);
    if (!buf || (n > 0 && fread(buf, 1, (size_t)n, f) != (size_t)n)) {
        fclose(f);
        free(buf);
        cnas_error_set(err, CNAS_ERR_IO, "cannot read %s", path);
        return NULL;
    }
    fclose(f);
    buf[n > 0 ? n : 0] = '\0';
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' '))
        buf[--n] = '\0';
    return buf;
}

cnas_status host_write_text(const char *dir, const char *name, const char *text,
                            cnas_error *err)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    if (!f || fputs(text, f) < 0 || fclose(f) != 0)
        return cnas_error_set(err, CNAS_ERR_IO, "cannot write %s: %s", path, strerror(errno));
    return CNAS_OK;
}

cnas_status host_mkdirs(const char *path, cnas_error *err)
{
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            if (mkdir(buf, 0777) != 0 && errno != EEXIST)
                return cnas_error_set(err, CNAS_ERR_IO, "cannot create %s: %s", buf, strerror(errno));
            *p = '/';
        }
    if (mkdir(buf, 0777) != 0 && errno != EEXIST)
        return cnas_error_set(err, CNAS_ERR_IO, "cannot create %s: %s", buf, strerror(errno));
    return CNAS_OK;
}

/* out_dir/name, or name-2, name-3, ... when taken. */
cnas_status host_new_run_dir(const session *s, const char *suffix, char *out, size_t n,
                             cnas_error *err)
{
    const char *out_dir = cnas_params_str(s->run, "out_dir");
    char name[256];
    const char *given = cnas_params_str(s->run, "name");
    if (*given) {
        snprintf(name, sizeof name, "%s%s", given, suffix);
    } else {
        char *copy = strdup(s->config_path);
        char *base = copy ? basename(copy) : "run";
        char *dot = strrchr(base, '.');
        if (dot)
            *dot = '\0';
        snprintf(name, sizeof name, "%s%s", base, suffix);
        free(copy);
    }
    cnas_status st = host_mkdirs(out_dir, err);
    if (st)
        return st;
    for (int k = 1; k < 10000; k++) {
        if (k == 1)
            snprintf(out, n, "%s/%s", out_dir, name);
        else
            snprintf(out, n, "%s/%s-%d", out_dir, name, k);
        if (mkdir(out, 0777) == 0)
            return CNAS_OK;
        if (errno != EEXIST)
            return cnas_error_set(err, CNAS_ERR_IO, "cannot create %s: %s", out, strerror(errno));
    }
    return cnas_error_set(err, CNAS_ERR_IO, "%s/%s: too many runs of that name", out_dir, name);
}

void host_json_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (; s && *s; s++) {
        if (*s == '"' || *s == '\\')
            fprintf(f, "\\%c", *s);
        else if ((unsigned char)*s < 0x20)
            fprintf(f, "\\u%04x", *s);
        else
            fputc(*s, f);
    }
    fputc('"', f);
}

cnas_status host_write_manifest(const char *dir, const session *s, const char *command,
                                int threads, cnas_error *err)
{
    char path[4200], host[256] = "", when[64];
    snprintf(path, sizeof path, "%s/manifest.json", dir);
    FILE *f = fopen(path, "w");
    if (!f)
        return cnas_error_set(err, CNAS_ERR_IO, "cannot write %s: %s", path, strerror(errno));
    gethostname(host, sizeof host - 1);
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    fprintf(f, "{\n  \"cnas\": \"%s\",\n  \"plugin_abi\": \"%d.%d\",\n  \"command\": ", cnas_version(),
            CNAS_ABI_MAJOR, CNAS_ABI_MINOR);
    host_json_string(f, command);
    fprintf(f, ",\n  \"config\": ");
    host_json_string(f, s->config_path);
    fprintf(f, ",\n  \"seed\": %lld,\n  \"threads\": %d,\n  ",
            (long long)cnas_params_int(s->run, "seed"), threads);
    if (cnas_dist_world_size() > 1) /* under mpirun: threads are per rank */
        fprintf(f, "\"mpi_ranks\": %d,\n  ", cnas_dist_world_size());
    fprintf(f, "\"blas_core\": ");
    host_json_string(f, cnas_blas_core());
    fprintf(f, ",\n  \"blas_config\": ");
    host_json_string(f, cnas_blas_config());
    const char *coretype = getenv("OPENBLAS_CORETYPE");
    fprintf(f, ",\n  \"openblas_coretype_env\": ");
    if (coretype)
        host_json_string(f, coretype);
    else
        fprintf(f, "null");
    fprintf(f, ",\n  \"hostname\": ");
    host_json_string(f, host);
    fprintf(f, ",\n  \"started\": \"%s\",\n  \"plugin_path\": [", when);
    /* --plugin-path and CNAS_PLUGIN_PATH, the entries that exist, absolute (plugin_path.txt
     * is what resume reads). */
    int k = 0;
    for (const char *p = s->plugin_path; p && *p; k++) {
        size_t n = strcspn(p, "\n");
        char entry[4200];
        snprintf(entry, sizeof entry, "%.*s", (int)n, p);
        fprintf(f, "%s", k ? ", " : "");
        host_json_string(f, entry);
        p += n + (p[n] == '\n');
    }
    fprintf(f, "],\n  \"plugins\": [");
    for (int i = 0; i < cnas_registry_plugin_count(s->reg); i++) {
        const char *p;
        const cnas_plugin_desc *d = cnas_registry_plugin(s->reg, i, &p);
        fprintf(f, "%s\n    {\"name\": ", i ? "," : "");
        host_json_string(f, d->name);
        fprintf(f, ", \"version\": ");
        host_json_string(f, d->version);
        fprintf(f, ", \"abi\": \"%u.%u\", \"path\": ", d->abi_major, d->abi_minor);
        host_json_string(f, p);
        fprintf(f, "}");
    }
    fprintf(f, "\n  ]\n}\n");
    if (fclose(f) != 0)
        return cnas_error_set(err, CNAS_ERR_IO, "cannot write %s", path);
    return CNAS_OK;
}

cnas_status host_write_plugin_path(const char *dir, const session *s, cnas_error *err)
{
    return host_write_text(dir, "plugin_path.txt", s->plugin_path ? s->plugin_path : "", err);
}

cnas_status host_resume_options(const host_options *o, const char *dir, host_options *out,
                                char **buf, cnas_error *err)
{
    *out = *o;
    *buf = NULL;
    char path[4200];
    snprintf(path, sizeof path, "%s/plugin_path.txt", dir);
    if (access(path, F_OK) != 0)
        return CNAS_OK;
    if (!(*buf = host_read_text(path, err)))
        return err->code;
    char *save = NULL;
    for (char *e = strtok_r(*buf, "\n", &save); e; e = strtok_r(NULL, "\n", &save)) {
        bool given = false;
        for (int i = 0; i < o->n_plugin_path && !given; i++)
            given = strcmp(o->plugin_path[i], e) == 0;
        if (given)
            continue;
        if (out->n_plugin_path == (int)(sizeof out->plugin_path / sizeof out->plugin_path[0]))
            return cnas_error_set(err, CNAS_ERR_CONFIG, "%s: too many entries (with --plugin-path, "
                                  "at most %d)", path, out->n_plugin_path);
        out->plugin_path[out->n_plugin_path++] = e;
        /* Said aloud: a plugin found here shadows a built-in one of the same name. */
        cnas_log(2, "resume: plugins are searched first in %s, recorded by the run (%s)", e, path);
    }
    return CNAS_OK;
}

/* Parse an architecture with a supernet of the configured space (the notation
 * belongs to the space). */
cnas_status host_parse_arch(const session *s, const cnas_data *data, const char *text,
                            cnas_arch **out, cnas_error *err)
{
    const cnas_space_vtable *vt = s->space_c->vtable;
    if (!CNAS_VT_HAS(vt, choice_points) || !CNAS_VT_HAS(vt, parse))
        return cnas_error_set(err, CNAS_ERR_PLUGIN, "space '%s' cannot read architectures (it has "
                              "no '%s')", s->space_c->name,
                              CNAS_VT_HAS(vt, parse) ? "choice_points" : "parse");
    const cnas_dataset_info *in = cnas_data_info(data);
    cnas_op_factory ops = cnas_registry_op_factory(s->reg);
    cnas_rng rng;
    cnas_rng_init(&rng, 0, "parse");
    cnas_space_create_args a = {sizeof a, s->space, in->channels, in->height, in->width,
                                in->num_classes, &ops, &rng, CNAS_SPACE_SUPERNET, NULL};
    void *sup;
    cnas_status st = vt->create(&a, &sup, err);
    if (st)
        return st;
    const cnas_choice_point *pts;
    int n = vt->choice_points(sup, &pts);
    *out = cnas_arch_new(n, err);
    st = *out ? vt->parse(sup, text, *out, err) : err->code;
    vt->destroy(sup);
    if (st) {
        cnas_arch_free(*out);
        *out = NULL;
    }
    return st;
}

