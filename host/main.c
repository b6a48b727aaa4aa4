/* cnas: the command-line host. */
#include "host.h"

#include <cnas/dist.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char usage[] =
    "usage: cnas [options] COMMAND [ARGS]\n"
    "\n"
    "commands:\n"
    "  plugins               list loaded plugins and their components\n"
    "  describe NAME         keys, types, defaults and help of a component\n"
    "  check CONFIG          validate a configuration without running it\n"
    "  data CONFIG           summarise the configured dataset (--grid FILE.png: sample picture)\n"
    "  search CONFIG         run an architecture search; writes runs/<name>/\n"
    "  train CONFIG --arch FILE  train an architecture from scratch and report test accuracy\n"
    "  resume RUN_DIR        continue a stopped search, training or standalone run\n"
    "  standalone CONFIG     train every architecture of the space from scratch and write their\n"
    "                        test accuracies (standalone.csv; --only 0,3,5-9: some of them)\n"
    "  correlate A.csv[:COL] B.csv[:COL]  Kendall tau and Spearman rho between two rankings\n"
    "                        (rows matched by --key COLUMN, default arch)\n"
    "  info CONFIG --arch FILE  parameters, multiply-adds per image, per-cell costs and\n"
    "                        training memory of an architecture (FILE or - for stdin; --json;\n"
    "                        --out DIR: its drawings; --input C,H,W --classes K: no dataset);\n"
    "                        without --arch: the search's supernet size and memory\n"
    "  report RUN_DIR        write a self-contained HTML report of a run (finished or not):\n"
    "                        RUN_DIR/report.html, or -o FILE\n"
    "\n"
    "options:\n"
    "  --plugin-path DIR     search DIR for plugins first (repeatable)\n"
    "  --set SECTION.KEY=VALUE  override a configuration key (repeatable)\n"
    "  --arch FILE           the architecture to train (train) or describe (info)\n"
    "  --grid FILE           write a PNG of samples per class (data)\n"
    "  --only LIST           indices of the architectures to train (standalone)\n"
    "  --key COLUMN          the column naming architectures (correlate)\n"
    "  --input C,H,W, --classes K  the input shape and classes instead of the dataset's (info)\n"
    "  --out DIR             write the architecture's drawings into DIR (info)\n"
    "  --json                print one JSON object (info)\n"
    "  -o FILE               the HTML file to write (report)\n"
    "  --standalone FILE     a standalone.csv to correlate the ranking with (report)\n"
    "  -q, -v                quieter, more verbose\n"
    "  -h, --help            this help\n"
    "  --version             print the version\n"
    "\n"
    "exit status: 0 success, 1 the run failed or was stopped, 2 usage, configuration or plugin error\n";

static void on_signal(int sig)
{
    (void)sig;
    if (cnas_stop_requested()) {
        static const char msg[] = "\ncnas: stopping now\n";
        ssize_t w = write(2, msg, sizeof msg - 1);
        (void)w;
        _exit(130);
    }
    static const char msg[] = "\ncnas: stopping after this step (a checkpoint is written); press "
                              "Ctrl-C again to stop at once\n";
    ssize_t w = write(2, msg, sizeof msg - 1);
    (void)w;
    cnas_stop_request();
}

static int run_command(int argc, char **argv);

/* Under an MPI launcher every rank runs the command (docs/distributed.md). */
int main(int argc, char **argv)
{
    cnas_error err;
    if (cnas_dist_init(&argc, &argv, &err)) {
        fprintf(stderr, "cnas: %s\n", err.msg);
        return EXIT_RUN_FAILED;
    }
    int code = run_command(argc, argv);
    cnas_dist_finalize();
    return code;
}

static int run_command(int argc, char **argv)
{
    host_options o;
    memset(&o, 0, sizeof o);
    const char *command = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *value = NULL;
        bool needs_value = strcmp(a, "--plugin-path") == 0 || strcmp(a, "--set") == 0 ||
                           strcmp(a, "--arch") == 0 || strcmp(a, "--grid") == 0 ||
                           strcmp(a, "--only") == 0 || strcmp(a, "--key") == 0 ||
                           strcmp(a, "--input") == 0 || strcmp(a, "--classes") == 0 ||
                           strcmp(a, "--out") == 0 ||
                           strcmp(a, "-o") == 0 || strcmp(a, "--standalone") == 0;
        if (needs_value) {
            if (i + 1 >= argc) {
                fprintf(stderr, "cnas: %s needs a value\n%s", a, usage);
                return EXIT_USAGE;
            }
            value = argv[++i];
        }
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            fputs(usage, stdout);
            return EXIT_OK;
        } else if (strcmp(a, "--version") == 0) {
            printf("cnas %s (plugin ABI %d.%d)\n", cnas_version(), CNAS_ABI_MAJOR, CNAS_ABI_MINOR);
            return EXIT_OK;
        } else if (strcmp(a, "--plugin-path") == 0) {
            if (o.n_plugin_path == 32) {
                fprintf(stderr, "cnas: too many --plugin-path options\n");
                return EXIT_USAGE;
            }
            o.plugin_path[o.n_plugin_path++] = value;
        } else if (strcmp(a, "--set") == 0) {
            if (o.n_overrides == 64) {
                fprintf(stderr, "cnas: too many --set options\n");
                return EXIT_USAGE;
            }
            o.overrides[o.n_overrides++] = value;
        } else if (strcmp(a, "--arch") == 0) {
            o.arch_file = value;
        } else if (strcmp(a, "--grid") == 0) {
            o.grid_file = value;
        } else if (strcmp(a, "--only") == 0) {
            o.only = value;
        } else if (strcmp(a, "--key") == 0) {
            o.key = value;
        } else if (strcmp(a, "--input") == 0) {
            o.input = value;
        } else if (strcmp(a, "--classes") == 0) {
            o.classes = value;
        } else if (strcmp(a, "--out") == 0) {
            o.out_dir = value;
        } else if (strcmp(a, "--json") == 0) {
            o.json = true;
        } else if (strcmp(a, "-o") == 0) {
            o.output = value;
        } else if (strcmp(a, "--standalone") == 0) {
            o.standalone = value;
        } else if (strcmp(a, "-q") == 0) {
            o.verbosity = -1;
        } else if (strcmp(a, "-v") == 0) {
            o.verbosity = 1;
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "cnas: unknown option '%s'\n%s", a, usage);
            return EXIT_USAGE;
        } else if (!command) {
            command = a;
        } else if (o.n_args < 4) {
            o.args[o.n_args++] = a;
        } else {
            fprintf(stderr, "cnas: too many arguments\n%s", usage);
            return EXIT_USAGE;
        }
    }
    if (!command) {
        fputs(usage, stderr);
        return EXIT_USAGE;
    }
    cnas_log_set_level(o.verbosity < 0 ? 1 : o.verbosity > 0 ? 3 : 2);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    static const struct {
        const char *name;
        int (*fn)(const host_options *);
        int min_args, max_args;
    } commands[] = {
        {"plugins", cmd_plugins, 0, 0}, {"describe", cmd_describe, 1, 1}, {"check", cmd_check, 1, 1},
        {"data", cmd_data, 1, 1},       {"search", cmd_search, 1, 1},     {"train", cmd_train, 1, 1},
        {"resume", cmd_resume, 1, 1},   {"standalone", cmd_standalone, 1, 1},
        {"correlate", cmd_correlate, 2, 2},
        {"info", cmd_info, 1, 1},
        {"report", cmd_report, 1, 1},
    };
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(command, commands[i].name) == 0) {
            if (o.n_args < commands[i].min_args || o.n_args > commands[i].max_args) {
                fprintf(stderr, "cnas %s: expected %d argument%s, got %d\n%s", command,
                        commands[i].max_args, commands[i].max_args == 1 ? "" : "s", o.n_args, usage);
                return EXIT_USAGE;
            }
            return commands[i].fn(&o);
        }
    fprintf(stderr, "cnas: unknown command '%s'\n%s", command, usage);
    return EXIT_USAGE;
}
