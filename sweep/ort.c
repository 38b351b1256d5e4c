/* sweep/ort.c: ONNX Runtime latency through node (see ort.h). */
#include "sweep/ort.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/export/onnx.h"
#include "core/util/error.h"
#include "core/util/fileio.h"

/* sweep/ort_latency.js as one C string (the Makefile writes the header from the script). */
static const char ORT_SCRIPT[] =
#include "ort_latency_js.h"
    ;

#define ORT_INSTALL "npm install --ignore-scripts onnxruntime-node"
#define ORT_OUTPUT_MAX (1 << 16)

const char *ort_dir_choose(const char *given) {
    const char *env = getenv(ORT_DIR_ENV);
    return given ? given : env && *env ? env : ".";
}

/* 1 when an executable named name is in a directory of $PATH. */
static int on_path(const char *name) {
    const char *path = getenv("PATH");
    char dir[4096], file[4200];
    while (path && *path) {
        size_t n = strcspn(path, ":");
        snprintf(dir, sizeof dir, "%.*s", (int)(n < sizeof dir ? n : sizeof dir - 1), path);
        snprintf(file, sizeof file, "%s/%s", *dir ? dir : ".", name);
        if (access(file, X_OK) == 0) return 1;
        path += n + (path[n] == ':');
    }
    return 0;
}

int ort_check(const char *dir) {
    char pkg[4200];
    snprintf(pkg, sizeof pkg, "%s/node_modules/onnxruntime-node/package.json", dir);
    if (!on_path("node"))
        return qa_error("ONNX Runtime: node is not on PATH: install Node.js (Debian: apt-get "
                        "install nodejs npm), then run `%s` in %s", ORT_INSTALL, dir);
    if (!file_exists(pkg))
        return qa_error("ONNX Runtime: no %s/node_modules/onnxruntime-node: install it with "
                        "`cd %s && %s`, or name an install with --ort DIR or $%s", dir, dir,
                        ORT_INSTALL, ORT_DIR_ENV);
    return QA_OK;
}

int ort_export(const BertModel *m, const char *path) {
    OnnxExportOpts o;
    onnx_export_opts_default(&o);
    return onnx_export_model(m, path, &o, NULL);
}

/* Writes the timed inputs as the script reads them: input_ids, attention_mask and
 * token_type_ids, each batch x seq int64 little-endian (x86-64's order). */
static int write_inputs(const char *path, const BertConfig *cfg, const LatencyOpts *o) {
    size_t n = (size_t)o->batch * (size_t)o->seq;
    int32_t *v = malloc(sizeof(int32_t) * 3 * n);
    int64_t *out = malloc(sizeof(int64_t) * 3 * n);
    int rc = QA_ERR;
    if (!v || !out) {
        qa_error("%s: out of memory for %zu tokens", path, n);
        goto cleanup;
    }
    int32_t *ids = v, *types = v + n, *mask = v + 2 * n;
    latency_inputs(o->batch, o->seq, cfg->vocab_size, ids, types, mask);
    if (cfg->type_vocab_size < 2) memset(types, 0, sizeof(int32_t) * n); /* as latency_measure */
    for (size_t i = 0; i < n; i++) {
        out[i] = ids[i];
        out[n + i] = mask[i];
        out[2 * n + i] = types[i];
    }
    rc = file_write_atomic(path, out, sizeof(int64_t) * 3 * n);
cleanup:
    free(v);
    free(out);
    return rc;
}

/* Runs node on the script with args (NULL-terminated, after the script) and reads its
 * stdout (at most ORT_OUTPUT_MAX bytes) into a new string (free with free()); *status gets
 * the wait status. QA_ERR when node cannot be started. */
static int run_node(char *const *args, char **out, int *status) {
    int fds[2];
    *out = NULL;
    if (pipe(fds) != 0) return qa_env_error(errno, "ONNX Runtime: pipe: %s", strerror(errno));
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        close(fds[0]);
        close(fds[1]);
        return qa_env_error(e, "ONNX Runtime: fork: %s", strerror(e));
    }
    if (pid == 0) {
        dup2(fds[1], 1);
        close(fds[0]);
        close(fds[1]);
        int n = 0;
        while (args[n]) n++;
        char **argv = calloc((size_t)n + 4, sizeof *argv);
        if (argv) {
            argv[0] = "node";
            argv[1] = "-e";
            argv[2] = (char *)ORT_SCRIPT;
            memcpy(argv + 3, args, sizeof *argv * (size_t)n);
            execvp("node", argv);
        }
        printf("{\"error\": \"cannot run node: %s\"}\n", strerror(errno));
        fflush(stdout);
        _exit(127);
    }
    close(fds[1]);
    char *buf = malloc(ORT_OUTPUT_MAX + 1);
    size_t len = 0;
    ssize_t k;
    while (buf && len < ORT_OUTPUT_MAX &&
           ((k = read(fds[0], buf + len, ORT_OUTPUT_MAX - len)) > 0 || (k < 0 && errno == EINTR)))
        if (k > 0) len += (size_t)k;
    close(fds[0]);
    while (waitpid(pid, status, 0) < 0 && errno == EINTR) {}
    if (!buf) return qa_error("ONNX Runtime: out of memory");
    buf[len] = '\0';
    *out = buf;
    return QA_OK;
}

/* Reads the script's line: n medians and minimums, the version. */
static int parse_output(const char *text, int status, double *median, double *min, int n,
                        char *version, size_t cap) {
    cJSON *j = cJSON_Parse(text);
    const cJSON *err = cJSON_GetObjectItem(j, "error");
    const cJSON *med = cJSON_GetObjectItem(j, "median_ms"), *mn = cJSON_GetObjectItem(j, "min_ms");
    const cJSON *ver = cJSON_GetObjectItem(j, "ort_version");
    int rc = QA_ERR;
    if (cJSON_IsString(err)) {
        qa_error("ONNX Runtime: %s", err->valuestring);
        goto cleanup;
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || cJSON_GetArraySize(med) != n ||
        cJSON_GetArraySize(mn) != n) {
        qa_error("ONNX Runtime: node %s %d without a result", WIFSIGNALED(status) ? "killed by "
                 "signal" : "exited with code", WIFSIGNALED(status) ? WTERMSIG(status)
                 : WEXITSTATUS(status));
        goto cleanup;
    }
    for (int i = 0; i < n; i++) {
        const cJSON *a = cJSON_GetArrayItem(med, i), *b = cJSON_GetArrayItem(mn, i);
        if (!cJSON_IsNumber(a) || !cJSON_IsNumber(b) || !(a->valuedouble > 0)) {
            qa_error("ONNX Runtime: no positive latency for model %d in its output", i + 1);
            goto cleanup;
        }
        median[i] = a->valuedouble;
        min[i] = b->valuedouble;
    }
    if (version) snprintf(version, cap, "%s", cJSON_IsString(ver) ? ver->valuestring : "");
    rc = QA_OK;
cleanup:
    cJSON_Delete(j);
    return rc;
}

int ort_measure(const char *dir, const char *teacher_onnx, const char *pruned_onnx,
                const BertConfig *cfg, const LatencyOpts *o, int threads,
                const char *work_dir, LatencyResult *r, char *version, size_t cap) {
    if (o->batch < 1 || o->seq < 1 || o->repeats < 1 || o->warmup < 0 || threads < 1)
        return qa_error("ONNX Runtime: bad settings batch %d seq %d repeats %d warmup %d "
                        "threads %d", o->batch, o->seq, o->repeats, o->warmup, threads);
    if (ort_check(dir)) return QA_ERR;
    char inputs[4200], num[5][16], abs_dir[4096];
    if (path_join(inputs, sizeof inputs, work_dir, "ort_inputs.bin") ||
        write_inputs(inputs, cfg, o))
        return QA_ERR;
    /* node resolves the package from the script's require: an absolute directory */
    if (!realpath(dir, abs_dir)) snprintf(abs_dir, sizeof abs_dir, "%s", dir);
    int v[5] = {o->batch, o->seq, threads, o->warmup, o->repeats};
    for (int i = 0; i < 5; i++) snprintf(num[i], sizeof num[i], "%d", v[i]);
    char *args[] = {abs_dir, inputs, num[0], num[1], num[2], num[3], num[4],
                    (char *)teacher_onnx, (char *)pruned_onnx, NULL};
    char *out = NULL;
    int status = 0;
    double med[2], mn[2];
    int rc = run_node(args, &out, &status);
    if (rc == QA_OK) rc = parse_output(out, status, med, mn, 2, version, cap);
    free(out);
    unlink(inputs);
    if (rc) return QA_ERR;
    r->teacher_ms = med[0];
    r->pruned_ms = med[1];
    r->teacher_min_ms = mn[0];
    r->pruned_min_ms = mn[1];
    r->speedup = med[0] / med[1];
    return QA_OK;
}
