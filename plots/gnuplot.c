/* plots/gnuplot.c: gnuplot script scaffolding and the child process that runs it. */
#include "plots/gnuplot.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/util/error.h"

#define EXIT_NO_EXEC 127 /* the child's status when chdir or exec failed (as in sh) */

int gnuplot_available(void) {
    const char *path = getenv("PATH");
    if (!path || !*path) path = "/usr/bin:/bin";
    while (*path) {
        size_t n = strcspn(path, ":");
        char cand[PATH_MAX];
        if (n > 0 && n < sizeof cand - 16) {
            snprintf(cand, sizeof cand, "%.*s/gnuplot", (int)n, path);
            if (access(cand, X_OK) == 0) return 1;
        }
        path += n + (path[n] == ':');
    }
    return 0;
}

void gnuplot_quote(FILE *f, const char *s) {
    fputc('\'', f);
    for (; *s; s++) {
        if (*s == '\'') fputc('\'', f);
        fputc((unsigned char)*s < ' ' ? ' ' : *s, f);
    }
    fputc('\'', f);
}

void gnuplot_script_begin(FILE *f, const char *name, const char *about, int w, int h) {
    fprintf(f,
            "# %s.gp: %s\n"
            "# Written by qaprune (sweep plot) with its data in %s.dat; edit and re-draw both\n"
            "# images with:  gnuplot %s.gp  (run in this directory).\n"
            "do for [fmt in \"png svg\"] {\n"
            "  reset\n"
            "  set encoding utf8\n"
            "  if (fmt eq \"svg\") {\n"
            "    set terminal svg size %d,%d noenhanced font 'sans,11' background rgb 'white'\n"
            "  } else {\n"
            "    if (strstrt(GPVAL_TERMINALS, \"pngcairo\") > 0) {\n"
            "      set terminal pngcairo size %d,%d noenhanced font 'sans,10'\n"
            "    } else {\n"
            "      set terminal png size %d,%d noenhanced\n"
            "    }\n"
            "  }\n"
            "  set output '%s.'.fmt\n",
            name, about, name, name, w, h, w, h, w, h, name);
}

void gnuplot_script_end(FILE *f) { fputs("  unset output\n}\n", f); }

/* Keeps the first line of gnuplot's stderr that says something (its messages start with
 * blanks and a "line N:" locator). */
static void first_line(const char *text, char *out, size_t cap) {
    const char *s = text;
    while (*s == ' ' || *s == '\t' || *s == '\n') s++;
    size_t n = strcspn(s, "\n");
    snprintf(out, cap, "%.*s", (int)(n < cap ? n : cap - 1), s);
}

int gnuplot_run(const char *dir, const char *script) {
    int fds[2];
    if (pipe(fds) != 0) return qa_error("%s/%s: cannot create a pipe: %s", dir, script,
                                        strerror(errno));
    pid_t pid = fork();
    if (pid < 0) {
        close(fds[0]);
        close(fds[1]);
        return qa_error("%s/%s: cannot fork: %s", dir, script, strerror(errno));
    }
    if (pid == 0) {
        int null = open("/dev/null", O_RDWR);
        if (null >= 0) {
            dup2(null, STDIN_FILENO);
            dup2(null, STDOUT_FILENO);
        }
        dup2(fds[1], STDERR_FILENO);
        close(fds[0]);
        if (chdir(dir) == 0) execlp("gnuplot", "gnuplot", script, (char *)NULL);
        _exit(EXIT_NO_EXEC);
    }
    close(fds[1]);
    char err[2048];
    size_t got = 0;
    ssize_t r;
    char sink[512];
    while ((r = read(fds[0], got < sizeof err - 1 ? err + got : sink,
                     got < sizeof err - 1 ? sizeof err - 1 - got : sizeof sink)) != 0) {
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) break;
        if (got < sizeof err - 1) got += (size_t)r;
    }
    err[got] = '\0';
    close(fds[0]);
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return QA_OK;
    if (WIFEXITED(status) && WEXITSTATUS(status) == EXIT_NO_EXEC)
        return qa_error("%s/%s: cannot run gnuplot (is gnuplot-nox installed and on PATH?)",
                        dir, script);
    char line[512];
    first_line(err, line, sizeof line);
    if (WIFSIGNALED(status))
        return qa_error("%s/%s: gnuplot killed by signal %d: %s", dir, script,
                        WTERMSIG(status), line);
    return qa_error("%s/%s: gnuplot failed (exit %d): %s", dir, script, WEXITSTATUS(status),
                    line);
}
