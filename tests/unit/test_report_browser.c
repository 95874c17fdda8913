/* test_report_browser.c - report.html's cases in headless Chromium: the
 * script runs without console messages, the filters (set through the
 * URL's #cat=..&strategy=..&q=.., as a user's choice would) show the right
 * cases, the per-token view draws the online stop's window, and a
 * screenshot is taken. Chromium is required (scripts/setup.sh installs
 * it; $SDC_CHROMIUM names another). */
#include "test_common.h"

#include <unistd.h>

#include "support/run_cmd.h"

static char work[256];
static char dir[300];
static char chromium[512];

static int find_chromium(void)
{
    const char *env = getenv("SDC_CHROMIUM");
    if (env && *env) {
        snprintf(chromium, sizeof chromium, "%s", env);
        return access(chromium, X_OK) == 0;
    }
    static const char *const names[] = {"chromium", "chromium-browser", "google-chrome"};
    const char *path = getenv("PATH");
    for (size_t i = 0; path && i < sizeof names / sizeof names[0]; i++) {
        const char *p = path;
        while (*p) {
            size_t n = strcspn(p, ":");
            snprintf(chromium, sizeof chromium, "%.*s/%s", (int)n, p, names[i]);
            if (access(chromium, X_OK) == 0)
                return 1;
            p += n + (p[n] == ':');
        }
    }
    return 0;
}

static int setup(void **state)
{
    (void)state;
    snprintf(work, sizeof work, "/tmp/sdc-browser-XXXXXX");
    if (!mkdtemp(work))
        return -1;
    snprintf(dir, sizeof dir, "%s/run", work);
    char cmd[5000];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s' && cp '%s'/*.json* '%s'/", dir,
             test_data_path("report/run"), dir);
    if (system(cmd) != 0)
        return -1;
    snprintf(cmd, sizeof cmd, "report '%s' --threshold 0.85 --quiet", dir);
    cmd_result r = run_program(cmd, NULL);
    int ok = r.status == 0;
    cmd_result_free(&r);
    return ok ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", work);
    return system(cmd) == 0 ? 0 : -1;
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    size_t got = b ? fread(b, 1, (size_t)n, f) : 0;
    fclose(f);
    if (b)
        b[got] = '\0';
    return b;
}

/* Runs Chromium on the report with hash and extra flags; returns its
 * stdout (the DOM with --dump-dom), caller frees; fails on console
 * messages. */
static char *browse(const char *flags, const char *hash)
{
    if (!*chromium && !find_chromium())
        fail_msg("chromium not found (scripts/setup.sh installs it; or set SDC_CHROMIUM)");
    char out[400], errp[400], cmd[2400];
    snprintf(out, sizeof out, "%s/out.html", work);
    snprintf(errp, sizeof errp, "%s/err.txt", work);
    snprintf(cmd, sizeof cmd,
             "'%s' --headless --no-sandbox --disable-gpu --user-data-dir='%s/profile' "
             "--enable-logging=stderr --v=0 %s 'file://%s/report.html#%s' >'%s' 2>'%s'",
             chromium, work, flags, dir, hash, out, errp);
    if (system(cmd) != 0) {
        char *e = slurp(errp);
        fail_msg("chromium failed: %s", e ? e : "");
    }
    char *e = slurp(errp);
    assert_non_null(e);
    if (strstr(e, ":CONSOLE") || strstr(e, "Uncaught"))
        fail_msg("console messages from the report's script:\n%s", e);
    free(e);
    char *dom = slurp(out);
    assert_non_null(dom);
    return dom;
}

/* Case divs shown (without the hidden attribute) in a DOM dump. */
static size_t shown_cases(const char *dom)
{
    size_t n = 0;
    for (const char *p = dom; (p = strstr(p, "<div class=\"case")) != NULL; p++) {
        const char *end = strchr(p, '>');
        assert_non_null(end);
        const char *h = strstr(p, " hidden");
        n += !h || h > end;
    }
    return n;
}

static void expect_shown(const char *hash, size_t want)
{
    char *dom = browse("--dump-dom", hash);
    assert_non_null(strstr(dom, "data-cases-ready=\"1\""));
    char label[64];
    snprintf(label, sizeof label, "data-n=\"%zu\"", want);
    if (!strstr(dom, label) || shown_cases(dom) != want)
        fail_msg("#%s: %zu cases shown, expected %zu", hash, shown_cases(dom), want);
    free(dom);
}

static void test_filters(void **state)
{
    (void)state;
    expect_shown("", 12);
    expect_shown("cat=uncertain_compliance", 6);
    expect_shown("strategy=online", 3);
    expect_shown("cat=uncertain_compliance&strategy=online", 1);
    expect_shown("q=rwandan", 4); /* a prompt's text */
    expect_shown("q=no-such-text-anywhere", 0);
}

static void test_tokens(void **state)
{
    (void)state;
    char *dom = browse("--dump-dom", "strategy=online&tokens=online/synth-5/3");
    assert_non_null(strstr(dom, "class=\"tokview\""));
    assert_non_null(strstr(dom, "class=\"stopmark\">online stop<"));
    /* the 4-token window (the fixture's deepconf.window) is outlined */
    size_t w = 0;
    for (const char *p = dom; (p = strstr(p, "class=\"w\"")) != NULL; p++)
        w++;
    assert_int_equal(w, 4);
    /* the prompt with "</script>" is text, not markup */
    assert_non_null(strstr(dom, "&lt;/script&gt;&lt;!-- &lt;b&gt;tag&lt;/b&gt;"));
    free(dom);
}

static void test_screenshot(void **state)
{
    (void)state;
    char flags[600], png[400];
    snprintf(png, sizeof png, "%s/report.png", work);
    snprintf(flags, sizeof flags, "--screenshot='%s' --window-size=1200,2000", png);
    free(browse(flags, "strategy=online"));
    FILE *f = fopen(png, "rb");
    assert_non_null(f);
    unsigned char sig[8];
    assert_int_equal(fread(sig, 1, 8, f), 8);
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fclose(f);
    assert_memory_equal(sig, "\x89PNG\r\n\x1a\n", 8);
    assert_true(size > 10000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_filters),
        cmocka_unit_test(test_tokens),
        cmocka_unit_test(test_screenshot),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
