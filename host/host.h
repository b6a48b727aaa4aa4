/* The cnas host: command-line parsing, sessions (configuration + plugins), commands. */
#ifndef CNAS_HOST_H
#define CNAS_HOST_H

#include <cnas/cnas.h>
#include <cnas/config.h>
#include <cnas/log.h>
#include <cnas/registry.h>
#include <cnas/search.h>

/* Exit codes. */
enum { EXIT_OK = 0, EXIT_RUN_FAILED = 1, EXIT_USAGE = 2 };

typedef struct host_options {
    const char *plugin_path[32];
    int n_plugin_path;
    const char *overrides[64];
    int n_overrides;
    int verbosity;              /* -1 quiet, 0 normal, 1 verbose */
    const char *arch_file;      /* train --arch */
    const char *grid_file;      /* data --grid */
    const char *only;           /* standalone --only: configuration indices */
    const char *key;            /* correlate --key: the column naming architectures */
    const char *input;          /* info --input C,H,W: the input shape instead of the dataset's */
    const char *classes;        /* info --classes K: the number of classes instead of the dataset's */
    const char *out_dir;        /* info --out DIR: where the drawings go */
    bool json;                  /* info --json */
    const char *output;         /* report -o: the HTML file */
    const char *standalone;     /* report --standalone: a standalone.csv to correlate with */
    const char *args[4];        /* positional arguments after the command */
    int n_args;
} host_options;

typedef struct session {
    cnas_ini *ini;
    cnas_registry *reg;
    const char *config_path;
    cnas_params *run, *plugins, *data, *train, *checkpoint;
    const cnas_component *dataset_c, *space_c, *strategy_c;
    const cnas_plugin_desc *dataset_p, *space_p, *strategy_p;
    cnas_params *dataset, *space, *strategy;
    cnas_params *network;       /* search: [space] overlaid by [network], for env->create_network */
    /* The search path given on the command line and in the environment (--plugin-path,
     * then CNAS_PLUGIN_PATH): absolute entries, one per line. A run records it so that
     * cnas resume loads the same plugins. */
    char *plugin_path;
} session;

/* Exit code for a failed status: configuration, plugin and input errors are 2. */
int host_exit_code(cnas_status s);
/* "cnas COMMAND: message" on stderr, once per line of a multi-error message. */
void host_print_error(const char *command, const cnas_error *err);

/* Plugins only: search path from options, CNAS_PLUGIN_PATH, the INI (may be NULL) and
 * the built-in location. */
cnas_status host_load_plugins(cnas_registry *reg, const host_options *o, const char *ini_path_list,
                              const char *ini_load_list, cnas_error *err);
/* session.plugin_path for these options. Caller frees; NULL when out of memory. */
char *host_plugin_path_text(const host_options *o);

/* Configuration + plugins + every section resolved. `retrain` overlays [network] on
 * [space] and [retrain] on [train]. */
cnas_status session_open(session *s, const char *config_path, const host_options *o, bool retrain,
                         cnas_error *err);
cnas_status session_open_text(session *s, const char *text, const char *name,
                              const host_options *o, bool retrain, cnas_error *err);
void session_close(session *s);
/* Log the keys that took their defaults, section by section. */
void session_log_defaults(const session *s, bool retrain, int level);
/* The resolved configuration as INI text (annotate: mark defaults). Caller frees. */
char *session_config_text(const session *s, bool annotate);

/* Run directories and their files (run_dir.c). */
char *host_read_text(const char *path, cnas_error *err); /* trailing blanks cut; caller frees */
cnas_status host_write_text(const char *dir, const char *name, const char *text,
                            cnas_error *err);
cnas_status host_mkdirs(const char *path, cnas_error *err);
/* out_dir/<name><suffix>, or with -2, -3, ... when taken; created. */
cnas_status host_new_run_dir(const session *s, const char *suffix, char *out, size_t n,
                             cnas_error *err);
void host_json_string(FILE *f, const char *s);
cnas_status host_write_manifest(const char *dir, const session *s, const char *command,
                                int threads, cnas_error *err);
/* The search path a run directory records (plugin_path.txt), written and read back:
 * *out is o with the recorded entries after o's own --plugin-path entries (so those
 * still come first); *buf holds the strings, free it after *out. A run directory of
 * an older cnas records none: *out is o. */
cnas_status host_write_plugin_path(const char *dir, const session *s, cnas_error *err);
cnas_status host_resume_options(const host_options *o, const char *dir, host_options *out,
                                char **buf, cnas_error *err);
/* An architecture in the configured space's notation, parsed by a supernet of it. */
cnas_status host_parse_arch(const session *s, const cnas_data *data, const char *text,
                            cnas_arch **out, cnas_error *err);

/* One search or training (cmd_run.c). */
typedef struct run_request {
    cnas_run_kind kind;
    const char *config_path;  /* a new run of this configuration, or */
    const char *resume_dir;   /* a stopped run to continue */
    const char *run_dir;      /* new run: exactly this directory instead of out_dir/name */
    const char *arch_text;    /* training: the architecture (instead of --arch FILE) */
    bool quiet_summary;       /* the caller prints the outcome */
    void (*step_hook)(void *ctx); /* after every step (stand-alone training's work queue) */
    void *step_hook_ctx;
} run_request;
/* Stand-alone workers: host_run runs on this process alone even under mpirun. */
void host_run_independent(bool on);
/* Returns the exit code; the result (when out is not NULL) on success. */
int host_run(const host_options *o, const run_request *rq, cnas_run_result *out);
/* Train every configuration of the space stand-alone: a new run of config_path, or
 * the continuation of resume_dir (cmd_standalone.c). */
int host_standalone(const host_options *o, const char *config_path, const char *resume_dir);

int cmd_plugins(const host_options *o);
int cmd_describe(const host_options *o);
int cmd_check(const host_options *o);
int cmd_data(const host_options *o);
int cmd_search(const host_options *o);
int cmd_train(const host_options *o);
int cmd_resume(const host_options *o);
int cmd_standalone(const host_options *o);
int cmd_correlate(const host_options *o);
int cmd_info(const host_options *o);
/* cnas info without --arch: the configured search's supernet and memory (info_search.c). */
int host_info_search(const session *s, const host_options *o, const int dims[4]);

/* The memory a run needs (memcheck.c): a model measured on small instances of the space
 * (docs/config.md, [run] memory_check). */
typedef struct host_mem_estimate {
    bool search;               /* a search's supernet (else the network of an architecture) */
    int batch, eval_batch;     /* [train] batch_size, [data] eval_batch_size */
    double params;             /* trainable parameters */
    double param_bytes;        /* 12 bytes a parameter (weight, gradient, momentum), 4 an other
                                * element, times the supernets; 4 a parameter per weight copy */
    double train_per_image;    /* step arena of a training step, per image */
    double eval_per_image;     /* of an evaluation pass, per image */
    double activation_bytes;   /* a training step's arena and an evaluation pass's */
    bool stepped;              /* activations measured (false: stopped at the parameters) */
    bool extrapolated;         /* built at small init_channels and scaled to `width` */
    int64_t width;
    bool single_path;          /* the search's activations measured on a sampled path */
    double supernets, weight_copies; /* as the strategy said (1 and 0 without one) */
    bool unmeasured;           /* the error came from measuring the space, not the strategy */
} host_mem_estimate;
/* The memory of a run of the session: a search (kind CNAS_RUN_SEARCH) with its strategy's
 * memory model (the `memory` member, ABI 1.3; else one supernet run as a mixture), or the
 * training of `arch`. dims: in_channels, height, width, classes. Stops after the
 * parameters when their bytes exceed `limit`. A bad answer from the strategy is an error
 * naming it; an error measuring the space sets e->unmeasured (CNAS_ERR_UNSUPPORTED when
 * the space does not scale as the model says). */
cnas_status host_memory_estimate(const session *s, cnas_run_kind kind, const cnas_arch *arch,
                                 const int dims[4], double limit, host_mem_estimate *e,
                                 cnas_error *err);
/* One line on an estimate: parameters, what they hold, activations and how measured. */
void host_memory_describe(const host_mem_estimate *e, char *what, size_t n);
/* Physical memory (or a container's limit) and what is available now, in bytes. */
void host_machine_memory(double *total, double *available);
void host_format_bytes(double bytes, char *buf, size_t n);
void host_format_count(double count, char *buf, size_t n); /* "68.8 G", "3.35 M", "4096" */
/* Refuse (CNAS_ERR_CONFIG) a run estimated above 90% of the machine's memory; warn above
 * the memory available now. */
cnas_status host_memory_check(const session *s, cnas_run_kind kind, const cnas_dataset_info *in,
                              const cnas_arch *arch, cnas_error *err);
int cmd_report(const host_options *o);

#endif
