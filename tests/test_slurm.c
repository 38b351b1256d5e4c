/* tests/test_slurm.c: reading what Slurm prints (sweep/slurm.h) on recorded outputs of
 * slurm-wlm 22.05 and on the formats' edge cases: sbatch --parsable (a job id, or a rejected
 * submission that still exits 0), squeue task lines and ranges, scontrol -o job records,
 * sacct -P lines, sinfo partitions and the request check, MaxArraySize, Slurm times and
 * memory sizes, shell quoting, and running a command without a shell. */
#include <stdlib.h>
#include <string.h>

#include "core/util/error.h"
#include "sweep/slurm.h"
#include "tests/test.h"

static void test_values(void) {
    long v;
    struct {
        const char *s;
        long want; /* -2: must be refused */
    } times[] = {
        {"30", 1800},          {"5:30", 330},       {"02:00:00", 7200},    {"1-00", 86400},
        {"1-02:03", 93780},    {"2-00:00:01", 172801}, {"infinite", -1},   {"UNLIMITED", -1},
        {"", -2},              {"1:2:3:4", -2},     {"10:61", -2},         {"1-25", -2},
        {"abc", -2},           {"-5", -2},          {"1h", -2},            {"02:00:", -2},
    };
    for (size_t i = 0; i < sizeof times / sizeof times[0]; i++) {
        v = -99;
        int rc = slurm_parse_time("t", times[i].s, &v);
        if (times[i].want == -2)
            CHECK(rc == QA_ERR && strstr(qa_last_error(), "Slurm time"), "time '%s' refused",
                  times[i].s);
        else
            CHECK(rc == QA_OK && v == times[i].want, "time '%s' = %ld (want %ld)", times[i].s, v,
                  times[i].want);
    }
    struct {
        const char *s;
        long want;
    } mems[] = {{"4096", 4096}, {"500M", 500}, {"4G", 4096}, {"1t", 1048576}, {"2048K", 2},
                {"0", -2},      {"4GB", -2},   {"G", -2},    {"", -2},        {"-1G", -2}};
    for (size_t i = 0; i < sizeof mems / sizeof mems[0]; i++) {
        v = -99;
        int rc = slurm_parse_mem("slurm.mem", mems[i].s, &v);
        if (mems[i].want == -2)
            CHECK(rc == QA_ERR && strstr(qa_last_error(), "slurm.mem"), "mem '%s' refused",
                  mems[i].s);
        else
            CHECK(rc == QA_OK && v == mems[i].want, "mem '%s' = %ld MB", mems[i].s, v);
    }
}

static void test_sbatch(void) {
    long id = 0;
    CHECK(slurm_parse_sbatch("1234\n", &id) == QA_OK && id == 1234, "plain job id");
    CHECK(slurm_parse_sbatch("77;cluster2\n", &id) == QA_OK && id == 77, "id;cluster");
    const char *bad[] = {"", "\n", "sbatch: error: Batch job submission failed: Invalid "
                         "partition name specified\n", "12ab\n", "0\n", "-3\n"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK(slurm_parse_sbatch(bad[i], &id) == QA_ERR &&
                  strstr(qa_last_error(), "expected a job id"),
              "no job id in '%s'", bad[i]);
    CHECK(slurm_parse_sbatch("sbatch: error: x\n", &id) == QA_ERR &&
              strstr(qa_last_error(), "sbatch: error: x") && !strchr(qa_last_error(), '\n'),
          "the error quotes the first line only");
}

static void test_config(void) {
    long m = 0;
    const char *cfg = "Configuration data as of 2026-11-24T10:00:00\n"
                      "AccountingStorageBackupHost = (null)\n"
                      "MaxArraySize            = 1001\n"
                      "MaxJobCount             = 10000\n";
    CHECK(slurm_parse_max_array(cfg, &m) == QA_OK && m == 1001, "MaxArraySize %ld", m);
    CHECK(slurm_parse_max_array("MaxArraySize = 5\n", &m) == QA_OK && m == 5, "first line");
    CHECK(slurm_parse_max_array("XMaxArraySize = 5\nMaxJobCount = 3\n", &m) == QA_ERR,
          "another key that ends in the name is not it");
    CHECK(slurm_parse_max_array("MaxArraySize = lots\n", &m) == QA_ERR, "not a number");
}

static void test_squeue(void) {
    SlurmTasks t = {0};
    const char *out = "15_1|PENDING|Dependency\n"
                      "15_0|RUNNING|None\n"
                      "16_[3-5%2]|PENDING|JobArrayTaskLimit\n"
                      "14|PENDING|JobHeldUser\n";
    CHECK(slurm_parse_squeue(out, &t) == QA_OK && t.n == 6, "6 tasks (%d)", t.n);
    const SlurmTask *a = slurm_tasks_find(&t, 15, 1), *b = slurm_tasks_find(&t, 16, 4);
    const SlurmTask *c = slurm_tasks_find(&t, 14, -1);
    CHECK(a && !strcmp(a->state, "PENDING") && !strcmp(a->reason, "Dependency") &&
              a->exit_code == -1, "15_1 pending on its dependency");
    CHECK(b && !strcmp(b->reason, "JobArrayTaskLimit"), "a range becomes tasks");
    CHECK(!slurm_tasks_find(&t, 16, 6) && !slurm_tasks_find(&t, 16, 2), "only the range");
    CHECK(c && !strcmp(c->state, "PENDING"), "a job that is no array: task -1");
    CHECK(slurm_state_live("RUNNING") && slurm_state_live("COMPLETING") &&
              !slurm_state_live("COMPLETED") && !slurm_state_live("CANCELLED") &&
              !slurm_state_live("TIMEOUT") && !slurm_state_live("NODE_FAIL"),
          "live and ended states");
    slurm_tasks_free(&t);
    CHECK(slurm_parse_squeue("", &t) == QA_OK && t.n == 0, "nothing queued");
    CHECK(slurm_parse_squeue("15_1 RUNNING None\n", &t) == QA_ERR &&
              strstr(qa_last_error(), "15_1 RUNNING"), "a line in another format");
    CHECK(slurm_parse_squeue("x_1|RUNNING|None\n", &t) == QA_ERR, "a bad id");
    CHECK(slurm_parse_squeue("3_[9-2]|PENDING|None\n", &t) == QA_ERR, "a reversed range");
    slurm_tasks_free(&t);
}

static void test_scontrol(void) {
    SlurmTasks t = {0};
    /* recorded from slurm-wlm 22.05.8 (cut): a failed task, a cancelled running one, the
     * array's tasks not started yet, and a plain job */
    const char *out =
        "JobId=124 ArrayJobId=123 ArrayTaskId=0 JobName=qaprune UserId=root(0) GroupId=root(0) "
        "MCS_label=N/A Priority=4294901754 Nice=0 Account=(null) QOS=(null) JobState=FAILED "
        "Reason=NonZeroExitCode Dependency=(null) Requeue=1 Restarts=0 BatchFlag=1 Reboot=0 "
        "ExitCode=3:0 RunTime=00:00:01 TimeLimit=UNLIMITED\n"
        "JobId=125 ArrayJobId=123 ArrayTaskId=1 JobName=qaprune JobState=CANCELLED Reason=None "
        "ExitCode=0:15 StdOut=/tmp/o/slurm/logs/123_1.out\n"
        "JobId=123 ArrayJobId=123 ArrayTaskId=2-4,7%2 ArrayTaskThrottle=2 JobName=qaprune "
        "JobState=PENDING Reason=JobArrayTaskLimit Dependency=afterok:122(unfulfilled) "
        "ExitCode=0:0\n"
        "JobId=122 JobName=qaprune-prepare UserId=root(0) JobState=COMPLETED Reason=None "
        "ExitCode=0:0\n";
    CHECK(slurm_parse_scontrol_jobs(out, &t) == QA_OK && t.n == 7, "7 records (%d): %s", t.n,
          qa_last_error());
    const SlurmTask *f = slurm_tasks_find(&t, 123, 0), *c = slurm_tasks_find(&t, 123, 1);
    const SlurmTask *p = slurm_tasks_find(&t, 123, 7), *prep = slurm_tasks_find(&t, 122, -1);
    CHECK(f && !strcmp(f->state, "FAILED") && f->exit_code == 3 && f->exit_signal == 0 &&
              !strcmp(f->reason, "NonZeroExitCode"), "the failed task and its exit code");
    CHECK(c && !strcmp(c->state, "CANCELLED") && c->exit_code == 0 && c->exit_signal == 15,
          "the cancelled task: signal 15");
    CHECK(p && !strcmp(p->state, "PENDING") && slurm_tasks_find(&t, 123, 3) &&
              !slurm_tasks_find(&t, 123, 5), "the pending tasks 2-4 and 7, throttle aside");
    CHECK(prep && !strcmp(prep->state, "COMPLETED"), "the prepare job");
    slurm_tasks_free(&t);
    CHECK(slurm_parse_scontrol_jobs("JobId=5 Reason=None\n", &t) == QA_ERR, "no JobState");
    CHECK(slurm_parse_scontrol_jobs("JobId=5 JobState=FAILED ExitCode=x\n", &t) == QA_ERR,
          "a bad exit code");
    slurm_tasks_free(&t);
}

static void test_sacct(void) {
    SlurmTasks t = {0};
    const char *out = "123_0|COMPLETED|0:0\n"
                      "123_0.batch|COMPLETED|0:0\n"
                      "123_1|CANCELLED by 0|0:15\n"
                      "123_2|TIMEOUT|0:0\n"
                      "123_[3-4]|PENDING|0:0\n"
                      "122|NODE_FAIL|1:0\n";
    CHECK(slurm_parse_sacct(out, &t) == QA_OK && t.n == 6, "6 tasks, steps skipped (%d)", t.n);
    const SlurmTask *c = slurm_tasks_find(&t, 123, 1), *n = slurm_tasks_find(&t, 122, -1);
    CHECK(c && !strcmp(c->state, "CANCELLED") && c->exit_signal == 15, "'CANCELLED by 0'");
    CHECK(n && !strcmp(n->state, "NODE_FAIL") && n->exit_code == 1, "node failure");
    CHECK(slurm_tasks_find(&t, 123, 4) && !strcmp(slurm_tasks_find(&t, 123, 2)->state, "TIMEOUT"),
          "range and time-out");
    slurm_tasks_free(&t);
    CHECK(slurm_parse_sacct("123_0|COMPLETED\n", &t) == QA_ERR, "a missing field");
    slurm_tasks_free(&t);
}

static void test_sinfo(void) {
    SlurmPartition p;
    const char *out = "debug*|2|24105|infinite\n"
                      "cpu|32|192000|2-00:00:00\n"
                      "cpu|64+|512000+|2-00:00:00\n";
    CHECK(slurm_parse_sinfo(out, "", &p) == QA_OK && !strcmp(p.name, "debug") && p.is_default &&
              p.cpus == 2 && p.mem_mb == 24105 && p.time_limit_s == -1, "the default partition");
    CHECK(slurm_parse_sinfo(out, "cpu", &p) == QA_OK && p.cpus == 64 && p.mem_mb == 512000 &&
              p.time_limit_s == 172800, "the largest node of a named partition");
    CHECK(slurm_parse_sinfo(out, "gpu", &p) == QA_ERR && strstr(qa_last_error(), "'gpu'"),
          "an unknown partition is named");
    CHECK(slurm_parse_sinfo("cpu|4|100|infinite\n", "", &p) == QA_ERR &&
              strstr(qa_last_error(), "no default partition"), "no default");
    CHECK(slurm_parse_sinfo("debug*|x|1|infinite\n", "", &p) == QA_ERR, "a bad line");

    SlurmOpts o;
    memset(&o, 0, sizeof o);
    slurm_parse_sinfo(out, "", &p);
    CHECK(slurm_check_request(&o, 2, &p) == QA_OK, "2 CPUs fit");
    CHECK(slurm_check_request(&o, 4, &p) == QA_ERR &&
              strstr(qa_last_error(), "slurm.cpus_per_task") && strstr(qa_last_error(), "has 2"),
          "4 CPUs on a 2-CPU node is refused: it would pend for ever");
    snprintf(o.mem, sizeof o.mem, "30G");
    CHECK(slurm_check_request(&o, 1, &p) == QA_ERR && strstr(qa_last_error(), "slurm.mem"),
          "more memory than the node has");
    snprintf(o.mem, sizeof o.mem, "2G");
    snprintf(o.time, sizeof o.time, "3-00:00:00");
    CHECK(slurm_check_request(&o, 1, &p) == QA_OK, "any time on an infinite partition");
    slurm_parse_sinfo(out, "cpu", &p);
    CHECK(slurm_check_request(&o, 1, &p) == QA_ERR && strstr(qa_last_error(), "slurm.time"),
          "more time than the partition allows");
}

static void test_exec_quote(void) {
    char buf[64];
    CHECK(slurm_shell_quote("a b", buf, sizeof buf) == QA_OK && !strcmp(buf, "'a b'"), "%s", buf);
    CHECK(slurm_shell_quote("it's", buf, sizeof buf) == QA_OK && !strcmp(buf, "'it'\\''s'"),
          "%s", buf);
    CHECK(slurm_shell_quote("0123456789012345678901234567890123456789012345678901234567890123",
                            buf, sizeof buf) == QA_ERR, "too long");
    char *out = NULL, *err = NULL;
    int st;
    const char *echo[] = {"sh", "-c", "echo out; echo err >&2; exit 3", NULL};
    CHECK(slurm_exec(echo, 10, &out, &err, &st) == QA_OK && st == 3 && !strcmp(out, "out\n") &&
              !strcmp(err, "err\n"), "stdout, stderr and exit code apart");
    free(out);
    free(err);
    const char *none[] = {"qaprune-no-such-command", NULL};
    CHECK(slurm_exec(none, 10, &out, &err, &st) == QA_ERR &&
              strstr(qa_last_error(), "qaprune-no-such-command: not found"), "not installed");
    const char *slow[] = {"sleep", "5", NULL};
    CHECK(slurm_exec(slow, 1, NULL, NULL, &st) == QA_ERR && strstr(qa_last_error(), "within 1 s"),
          "a command that hangs is killed at its time-out");
    char line[16];
    slurm_first_line("\nfirst line here\nsecond\n", line, sizeof line);
    CHECK(!strcmp(line, "first line here"), "first line '%s'", line);
}

int main(void) {
    test_values();
    test_sbatch();
    test_config();
    test_squeue();
    test_scontrol();
    test_sacct();
    test_sinfo();
    test_exec_quote();
    return TEST_DONE();
}
