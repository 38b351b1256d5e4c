/* sweep/measure.c: sweep_run's measure stage (see run_private.h): each trained point's
 * latency against its teacher, interleaved, with the machine to itself; its ONNX export
 * and ONNX Runtime latency when the grid asks. */
#include "sweep/run_private.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "core/export/artifact.h"
#include "core/model/checkpoint.h"
#include "core/model/gemm.h"
#include "core/model/latency.h"
#include "core/model/ops.h"
#include "core/util/error.h"
#include "core/util/fileio.h"
#include "sweep/ort.h"
#include "sweep/progress.h"

/* With "export": {"onnx": true}: the measured point's checkpoint as onnx (cap bytes) =
 * OUT/points/HASH/onnx/model.onnx with its strategy, F1 and speedup. A failed export is
 * reported (QA_ERR) and leaves the point's results alone. */
static int export_point(Sweep *s, int i, const DbResult *r, char *onnx, size_t cap) {
    char dir[4400];
    point_dir(&s->pts, i, dir, sizeof dir);
    snprintf(onnx, cap, "%s/onnx/model.onnx", dir);
    OnnxExportOpts o;
    ExportMeta meta = {s->g->points[i].spec.strategy, r->metrics.f1, r->metrics.speedup};
    onnx_export_opts_default(&o);
    if (export_artifact(dir, onnx, &o, &meta, NULL) == QA_OK) return QA_OK;
    fprintf(stderr, "sweep: point %s: ONNX export failed: %s\n", s->pts.hash[i],
            qa_last_error());
    return QA_ERR;
}

/* The ONNX Runtime work directory, OUT/ort: the teacher's export and the inputs file. */
static void ort_work_dir(const Sweep *s, char *buf, size_t cap) {
    snprintf(buf, cap, "%s/ort", s->g->out);
}

/* With "bench": {"ort": true}: point i's pruned model (its export under points/ when
 * "export" made one, else OUT/ort/point.onnx, removed after) against the teacher's export in
 * ONNX Runtime, on the inputs, threads and passes of the engine's timing; fills the ort_
 * metrics. A failure is reported and leaves them unknown (NAN), the point done. */
static void ort_measure_point(Sweep *s, int i, const BertModel *teacher, const BertModel *pruned,
                              const LatencyOpts *lo, const char *exported, DbResult *r) {
    char work[4300], onnx[4400];
    ort_work_dir(s, work, sizeof work);
    snprintf(onnx, sizeof onnx, "%s/point.onnx", work);
    LatencyResult ol;
    int temp = !exported;
    int rc = *s->ort_teacher ? QA_OK : qa_error("the teacher's ONNX export failed");
    if (rc == QA_OK && temp) rc = ort_export(pruned, onnx);
    if (rc == QA_OK)
        rc = ort_measure(ort_dir_choose(NULL), s->ort_teacher, temp ? onnx : exported,
                         bert_config(teacher), lo, s->g->threads, work, &ol, NULL, 0);
    if (temp) unlink(onnx);
    if (rc) {
        fprintf(stderr, "sweep: point %s: no ONNX Runtime latency: %s\n", s->pts.hash[i],
                qa_last_error());
        return;
    }
    r->metrics.ort_latency_ms = ol.pruned_ms;
    r->metrics.ort_teacher_latency_ms = ol.teacher_ms;
    r->metrics.ort_speedup = ol.speedup;
}

/* With "bench": {"ort": true}: the teacher just loaded as OUT/ort/teacher-HASH.onnx, once
 * per teacher and sweep (s->ort_teacher; "" when the export failed, said once). */
static void ort_export_teacher(Sweep *s, int k, const BertModel *teacher) {
    char work[4300];
    ort_work_dir(s, work, sizeof work);
    if (*s->ort_teacher) unlink(s->ort_teacher); /* the previous teacher's */
    snprintf(s->ort_teacher, sizeof s->ort_teacher, "%s/teacher-%.16s.onnx", work,
             s->g->teachers[k].hash);
    progress_update("sweep: exporting teacher %s to ONNX for ONNX Runtime",
                    s->g->teachers[k].name);
    int rc = file_mkdirs(work) || ort_export(teacher, s->ort_teacher);
    progress_done();
    if (rc) {
        fprintf(stderr, "sweep: teacher %s: ONNX export for ONNX Runtime failed: %s\n",
                s->g->teachers[k].name, qa_last_error());
        s->ort_teacher[0] = '\0';
    }
}

/* Times teacher and pruned model of trained point i, interleaved, and finishes the point
 * (done with its latency, or failed with why the timing failed). */
static int measure_point(Sweep *s, int i, BertModel *teacher) {
    const Grid *g = s->g;
    const GridPoint *p = &g->points[i];
    char dir[4400], trained[4500];
    point_dir(&s->pts, i, dir, sizeof dir);
    point_trained_path(&s->pts, i, trained, sizeof trained);
    DbResult r;
    BertModel *pruned = NULL;
    LatencyOpts lo = g->bench;
    if (lo.seq == 0) {
        FeatureOpts fo;
        model_feature_opts(g->teachers[p->teacher].dir, &fo);
        lo.seq = fo.max_seq_len;
    }
    LatencyResult lat;
    /* both models timed in the point's precision and GEMM library (checked by grid_load) */
    BertPrecision prec = BERT_FP32;
    GemmBackend gb = GEMM_DEFAULT;
    bert_precision_parse(p->spec.precision, &prec);
    gemm_backend_parse(p->spec.gemm, &gb);
    gemm_set_backend(gb);
    if (db_read_result_file(trained, &r) || checkpoint_load(dir, &pruned) ||
        bert_set_precision(teacher, prec) || bert_set_precision(pruned, prec) ||
        latency_measure(teacher, pruned, &lo, &lat)) {
        char msg[1200];
        snprintf(msg, sizeof msg, "latency: %s", qa_last_error());
        bert_free(pruned);
        return point_fail(&s->pts, i, msg);
    }
    fault_at("latency");
    r.metrics.latency_ms = lat.pruned_ms;
    r.metrics.teacher_latency_ms = lat.teacher_ms;
    r.metrics.speedup = lat.speedup;
    r.finished_at[0] = '\0';
    point_result_where(&r);
    char onnx[4500];
    int exported = g->export_onnx && export_point(s, i, &r, onnx, sizeof onnx) == QA_OK;
    if (g->bench_ort) {
        sweep_show_progress(s, "latency in ONNX Runtime");
        ort_measure_point(s, i, teacher, pruned, &lo, exported ? onnx : NULL, &r);
    }
    bert_free(pruned);
    if (sweep_interrupted && g->bench_ort && isnan(r.metrics.ort_speedup)) {
        point_release(&s->pts, i); /* Ctrl-C stopped node: measured again on resume */
        return QA_OK;
    }
    point_measured(&s->pts, i);
    return point_finish(&s->pts, i, &r);
}

/* With the compute lock held exclusively (no worker of any sweep on OUT computes), times
 * every trained point against its teacher. */
int sweep_stage_measure(Sweep *s) {
    const Grid *g = s->g;
    const char *f = getenv("QAPRUNE_FAULT");
    if (f && !strcmp(f, "delete-db")) { /* the test hook of fault_at: a user deletes it */
        char path[4300];
        snprintf(path, sizeof path, "%s/results.db", g->out);
        unlink(path);
    }
    BertModel *teacher = NULL;
    int rc = QA_OK, loaded = -1, locked = 0;
    for (int i = 0; i < g->n_points && !sweep_interrupted && rc == QA_OK; i++) {
        if (s->pts.state[i] != POINT_TRAINED) continue;
        if (!locked) {
            flock(s->lock_fd, LOCK_EX);
            ops_set_threads(g->threads);
            locked = 1;
        }
        int k = g->points[i].teacher;
        if (loaded != k) {
            bert_free(teacher);
            teacher = NULL;
            if (checkpoint_load(g->teachers[k].dir, &teacher)) {
                rc = QA_ERR;
                break;
            }
            loaded = k;
            if (g->bench_ort) ort_export_teacher(s, k, teacher);
        }
        sweep_show_progress(s, "latency");
        rc = measure_point(s, i, teacher);
    }
    bert_free(teacher);
    if (*s->ort_teacher) { /* the work directory goes with the last export */
        char work[4300];
        ort_work_dir(s, work, sizeof work);
        unlink(s->ort_teacher);
        rmdir(work);
    }
    if (locked) flock(s->lock_fd, LOCK_UN);
    return rc;
}

