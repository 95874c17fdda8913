/* test_hf_pull.c - `model pull` against a Hub stand-in on 127.0.0.1: the
 * Hub's URL layout (/api/models/R/revision/REV, /api/models/R/tree/SHA,
 * /R/resolve/SHA/FILE with Range), served by a thread of this test. Cases:
 * fresh download into the cache layout, cache hit, quant choice, missing
 * quant (lists files), unknown repo, interrupted download resumed, sha256
 * mismatch, gated repo and HF_TOKEN, offline, unreachable Hub, the CLI. */
#include "test_common.h"

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "deepconf/dc_hf.h"
#include "support/hub_server.h"

/* ---- the Hub stand-in ---- */

#define SHA_MAIN "0123456789abcdef0123456789abcdef01234567"

typedef struct hub_file {
    const char *repo, *path;
    size_t size;
    unsigned char *data;
    char sha256[65];
    int lie; /* lists a wrong sha256 */
} hub_file;

static hub_file files[] = {
    {"Qwen/Qwen3-0.6B-GGUF", "Qwen3-0.6B-Q8_0.gguf", 300000, NULL, "", 0},
    {"Qwen/Qwen3-0.6B-GGUF", "Qwen3-0.6B-Q4_K_M.gguf", 120000, NULL, "", 0},
    {"Qwen/Qwen3-0.6B-GGUF", "README.md", 100, NULL, "", 0},
    {"bad/Corrupt-GGUF", "corrupt-Q8_0.gguf", 50000, NULL, "", 1},
    {"gated/Secret-GGUF", "secret-Q8_0.gguf", 40000, NULL, "", 0},
};
#define N_FILES (sizeof files / sizeof *files)

static volatile int cut_next_download; /* bytes after which the next download is cut */
static volatile int resolve_requests, range_requests;
static hub_env srv;

static int repo_known(const char *repo, size_t n)
{
    for (size_t i = 0; i < N_FILES; i++)
        if (strlen(files[i].repo) == n && !strncmp(files[i].repo, repo, n))
            return 1;
    return 0;
}

static void handle(int fd, const hub_request *rq)
{
    const char *path = rq->path;
    int authed = rq->authed;
    if (!strncmp(path, "/api/models/", 12)) {
        const char *repo = path + 12;
        const char *kind = strstr(repo, "/revision/");
        if (!kind)
            kind = strstr(repo, "/tree/");
        size_t rn = kind ? (size_t)(kind - repo) : 0;
        /* repo is owner/name: the kind marker is after the second part */
        if (!kind || !repo_known(repo, rn)) {
            hub_reply_json(fd, 404, "{\"error\": \"Repository not found\"}");
            return;
        }
        if (!strncmp(repo, "gated/", 6) && !authed) {
            hub_reply_json(fd, 401,
                           "{\"error\": \"Access to model gated/Secret-GGUF is restricted\"}");
            return;
        }
        if (!strncmp(kind, "/revision/", 10)) {
            if (strcmp(kind + 10, "main") && strcmp(kind + 10, SHA_MAIN)) {
                hub_reply_json(fd, 404, "{\"error\": \"Invalid rev id\"}");
                return;
            }
            hub_reply_json(fd, 200, "{\"id\": \"x\", \"sha\": \"" SHA_MAIN "\", \"siblings\": []}");
            return;
        }
        char body[8192] = "[";
        for (size_t i = 0; i < N_FILES; i++) {
            if (strlen(files[i].repo) != rn || strncmp(files[i].repo, repo, rn))
                continue;
            char e[1024];
            const char *sha =
                files[i].lie ? "1111111111111111111111111111111111111111111111111111111111111111"
                             : files[i].sha256;
            if (!strcmp(files[i].path, "README.md"))
                snprintf(e, sizeof e,
                         "%s{\"type\": \"file\", \"path\": \"%s\", \"size\": %zu, "
                         "\"oid\": \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}",
                         body[1] ? ", " : "", files[i].path, files[i].size);
            else
                snprintf(e, sizeof e,
                         "%s{\"type\": \"file\", \"path\": \"%s\", \"size\": %zu, "
                         "\"oid\": \"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\", "
                         "\"lfs\": {\"oid\": \"%s\", \"size\": %zu, \"pointerSize\": 134}}",
                         body[1] ? ", " : "", files[i].path, files[i].size, sha, files[i].size);
            strcat(body, e);
        }
        strcat(body,
               ", {\"type\": \"directory\", \"path\": \"docs\", \"oid\": \"c\", \"size\": 0}]");
        hub_reply_json(fd, 200, body);
        return;
    }
    for (size_t i = 0; i < N_FILES; i++) {
        char want[1024];
        snprintf(want, sizeof want, "/%s/resolve/%s/%s", files[i].repo, SHA_MAIN, files[i].path);
        if (strcmp(path, want))
            continue;
        if (!strncmp(files[i].repo, "gated/", 6) && !authed) {
            hub_reply_json(fd, 401, "{\"error\": \"restricted\"}");
            return;
        }
        resolve_requests++;
        hub_reply_file(fd, files[i].data, files[i].size, rq->range, &cut_next_download,
                       &range_requests);
        return;
    }
    hub_reply_json(fd, 404, "{\"error\": \"Entry not found\"}");
}

static int setup(void **state)
{
    (void)state;
    for (size_t i = 0; i < N_FILES; i++) {
        files[i].data = malloc(files[i].size);
        uint32_t s = (uint32_t)(i * 7919 + 1);
        for (size_t j = 0; j < files[i].size; j++) {
            s = s * 1664525u + 1013904223u;
            files[i].data[j] = (unsigned char)(s >> 24);
        }
        char p[300];
        snprintf(p, sizeof p, "/tmp/sdc-hf-blob-%d-%zu", (int)getpid(), i);
        FILE *f = fopen(p, "wb");
        fwrite(files[i].data, 1, files[i].size, f);
        fclose(f);
        if (dc_sha256_file(p, files[i].sha256, NULL) != DC_STATUS_OK)
            return -1;
        remove(p);
    }
    return hub_server_start(handle, "/tmp/sdc-hf-XXXXXX", &srv);
}

static int teardown(void **state)
{
    (void)state;
    for (size_t i = 0; i < N_FILES; i++)
        free(files[i].data);
    return hub_server_stop(&srv);
}

static void assert_file_is(const char *path, const hub_file *f)
{
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    unsigned char *buf = malloc(f->size + 1);
    size_t n = fread(buf, 1, f->size + 1, fp);
    fclose(fp);
    assert_int_equal(n, f->size);
    assert_memory_equal(buf, f->data, f->size);
    free(buf);
}

/* ---- cases ---- */

static void test_sha256_vectors(void **state)
{
    (void)state;
    char p[512], hex[65];
    snprintf(p, sizeof p, "%s/abc", srv.dir);
    FILE *f = fopen(p, "wb");
    fputs("abc", f);
    fclose(f);
    assert_int_equal(dc_sha256_file(p, hex, NULL), DC_STATUS_OK);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    f = fopen(p, "wb");
    fclose(f);
    assert_int_equal(dc_sha256_file(p, hex, NULL), DC_STATUS_OK);
    assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    /* 1,000,000 x 'a' (FIPS 180-2 appendix B.3): crosses every block boundary. */
    f = fopen(p, "wb");
    for (int i = 0; i < 1000000; i++)
        fputc('a', f);
    fclose(f);
    assert_int_equal(dc_sha256_file(p, hex, NULL), DC_STATUS_OK);
    assert_string_equal(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    remove(p);
}

static void test_refs(void **state)
{
    (void)state;
    dc_hf_ref r;
    assert_int_equal(dc_hf_parse_ref("Qwen/Qwen3-0.6B", &r, NULL), DC_STATUS_OK);
    assert_string_equal(r.repo, "Qwen/Qwen3-0.6B-GGUF");
    assert_string_equal(r.quant, "Q8_0");
    assert_string_equal(r.file, "");
    assert_int_equal(dc_hf_parse_ref("Qwen/Qwen3-4B-GGUF:Q4_K_M", &r, NULL), DC_STATUS_OK);
    assert_string_equal(r.repo, "Qwen/Qwen3-4B-GGUF");
    assert_string_equal(r.quant, "Q4_K_M");
    assert_int_equal(dc_hf_parse_ref("unsloth/Qwen3-8B-GGUF/Qwen3-8B-Q6_K.gguf", &r, NULL),
                     DC_STATUS_OK);
    assert_string_equal(r.repo, "unsloth/Qwen3-8B-GGUF");
    assert_string_equal(r.file, "Qwen3-8B-Q6_K.gguf");
    dc_error err = {0};
    assert_int_equal(dc_hf_parse_ref("noslash", &r, &err), DC_STATUS_INVALID_ARG);
    assert_int_equal(dc_hf_parse_ref("a/../b", &r, &err), DC_STATUS_INVALID_ARG);
    assert_int_equal(dc_hf_parse_ref("a/b:", &r, &err), DC_STATUS_INVALID_ARG);
    assert_int_equal(dc_hf_parse_ref("a/b:Q8/0", &r, &err), DC_STATUS_INVALID_ARG);
    assert_true(dc_hf_is_path("/models/x.gguf"));
    assert_true(dc_hf_is_path("./x.gguf"));
    assert_true(dc_hf_is_path("x.gguf"));
    assert_false(dc_hf_is_path("Qwen/Qwen3-0.6B"));
    assert_false(dc_hf_is_path("Qwen/Qwen3-0.6B-GGUF:Q8_0"));
}

static void test_fresh_then_cached(void **state)
{
    (void)state;
    char home[512];
    dc_hf_params p = hub_params(&srv, "fresh", home, sizeof home);
    dc_hf_result r;
    dc_error err = {0};
    int before = resolve_requests;
    dc_status st = dc_hf_pull("Qwen/Qwen3-0.6B", &p, &r, &err);
    if (st != DC_STATUS_OK)
        fail_msg("pull: %s", err.msg);
    assert_int_equal(resolve_requests, before + 1);
    char want[1024];
    snprintf(want, sizeof want,
             "%s/hub/models--Qwen--Qwen3-0.6B-GGUF/snapshots/%s/"
             "Qwen3-0.6B-Q8_0.gguf",
             home, SHA_MAIN);
    assert_string_equal(r.path, want);
    assert_string_equal(r.commit, SHA_MAIN);
    assert_string_equal(r.file, "Qwen3-0.6B-Q8_0.gguf");
    assert_int_equal(r.size, files[0].size);
    assert_string_equal(r.sha256, files[0].sha256);
    assert_false(r.from_cache);
    assert_file_is(r.path, &files[0]);
    /* The huggingface_hub layout: a relative link into blobs/, refs/main. */
    char link[512];
    ssize_t n = readlink(r.path, link, sizeof link - 1);
    assert_true(n > 0);
    link[n] = '\0';
    char blob_link[128];
    snprintf(blob_link, sizeof blob_link, "../../blobs/%s", files[0].sha256);
    assert_string_equal(link, blob_link);
    char refp[1024], ref[64] = "";
    snprintf(refp, sizeof refp, "%s/hub/models--Qwen--Qwen3-0.6B-GGUF/refs/main", home);
    FILE *f = fopen(refp, "rb");
    assert_non_null(f);
    assert_non_null(fgets(ref, sizeof ref, f));
    fclose(f);
    assert_string_equal(ref, SHA_MAIN);
    dc_hf_result_clear(&r);

    /* Again: nothing downloaded. */
    assert_int_equal(dc_hf_pull("Qwen/Qwen3-0.6B-GGUF:Q8_0", &p, &r, &err), DC_STATUS_OK);
    assert_true(r.from_cache);
    assert_int_equal(resolve_requests, before + 1);
    dc_hf_result_clear(&r);

    /* Offline: the cache answers; an uncached quant is an error saying so. */
    p.offline = 1;
    assert_int_equal(dc_hf_pull("Qwen/Qwen3-0.6B", &p, &r, &err), DC_STATUS_OK);
    assert_string_equal(r.path, want);
    dc_hf_result_clear(&r);
    assert_int_equal(dc_hf_pull("Qwen/Qwen3-0.6B-GGUF:Q4_K_M", &p, &r, &err), DC_STATUS_NOT_FOUND);
    assert_non_null(strstr(err.msg, "offline"));
    assert_non_null(strstr(err.msg, "Qwen3-0.6B-Q8_0.gguf")); /* lists what the cache has */

    /* The Hub out of reach: the cache still answers. */
    p.offline = 0;
    p.endpoint = "http://127.0.0.1:1";
    assert_int_equal(dc_hf_pull("Qwen/Qwen3-0.6B", &p, &r, &err), DC_STATUS_OK);
    assert_true(r.from_cache);
    dc_hf_result_clear(&r);
}

static void test_quant_choice_and_errors(void **state)
{
    (void)state;
    char home[512];
    dc_hf_params p = hub_params(&srv, "quants", home, sizeof home);
    dc_hf_result r;
    dc_error err = {0};
    assert_int_equal(dc_hf_pull("Qwen/Qwen3-0.6B-GGUF:Q4_K_M", &p, &r, &err), DC_STATUS_OK);
    assert_string_equal(r.file, "Qwen3-0.6B-Q4_K_M.gguf");
    assert_file_is(r.path, &files[1]);
    dc_hf_result_clear(&r);

    /* Q4_K must not pick Q4_K_M; the error lists the GGUF files. */
    assert_int_equal(dc_hf_pull("Qwen/Qwen3-0.6B-GGUF:Q4_K", &p, &r, &err), DC_STATUS_NOT_FOUND);
    assert_non_null(strstr(err.msg, "Q4_K"));
    assert_non_null(strstr(err.msg, "Qwen3-0.6B-Q8_0.gguf"));
    assert_non_null(strstr(err.msg, "Qwen3-0.6B-Q4_K_M.gguf"));
    assert_null(strstr(err.msg, "README.md"));

    assert_int_equal(dc_hf_pull("nobody/Nothing-GGUF", &p, &r, &err), DC_STATUS_HTTP);
    assert_non_null(strstr(err.msg, "404"));
    assert_non_null(strstr(err.msg, "Repository not found"));

    p.revision = "v9";
    assert_int_equal(dc_hf_pull("Qwen/Qwen3-0.6B", &p, &r, &err), DC_STATUS_HTTP);
    assert_non_null(strstr(err.msg, "404"));

    /* Nobody listening and nothing cached. */
    char home2[512];
    dc_hf_params q = hub_params(&srv, "unreachable", home2, sizeof home2);
    q.endpoint = "http://127.0.0.1:1";
    assert_int_equal(dc_hf_pull("Qwen/Qwen3-0.6B", &q, &r, &err), DC_STATUS_NETWORK);
    assert_non_null(strstr(err.msg, "not in the cache"));
}

static void test_resume(void **state)
{
    (void)state;
    char home[512];
    dc_hf_params p = hub_params(&srv, "resume", home, sizeof home);
    dc_hf_result r;
    dc_error err = {0};
    cut_next_download = 100000;
    int ranges = range_requests;
    assert_int_equal(dc_hf_pull("Qwen/Qwen3-0.6B", &p, &r, &err), DC_STATUS_NETWORK);
    assert_non_null(strstr(err.msg, "resume"));
    char part[1024];
    snprintf(part, sizeof part, "%s/hub/models--Qwen--Qwen3-0.6B-GGUF/blobs/%s.incomplete", home,
             files[0].sha256);
    struct stat sb;
    assert_int_equal(stat(part, &sb), 0);
    assert_int_equal(sb.st_size, 100000);
    assert_int_equal(dc_hf_pull("Qwen/Qwen3-0.6B", &p, &r, &err), DC_STATUS_OK);
    assert_int_equal(r.resumed_from, 100000);
    assert_int_equal(range_requests, ranges + 1);
    assert_file_is(r.path, &files[0]);
    assert_int_not_equal(stat(part, &sb), 0); /* renamed into place */
    dc_hf_result_clear(&r);
}

static void test_checksum_mismatch(void **state)
{
    (void)state;
    char home[512];
    dc_hf_params p = hub_params(&srv, "corrupt", home, sizeof home);
    dc_hf_result r;
    dc_error err = {0};
    assert_int_equal(dc_hf_pull("bad/Corrupt-GGUF", &p, &r, &err), DC_STATUS_CHECKSUM);
    assert_non_null(strstr(err.msg, "sha256"));
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/hub/models--bad--Corrupt-GGUF/snapshots", home);
    struct stat sb;
    assert_int_not_equal(stat(dir, &sb), 0); /* nothing linked */
    snprintf(dir, sizeof dir,
             "%s/hub/models--bad--Corrupt-GGUF/blobs/"
             "1111111111111111111111111111111111111111111111111111111111111111.incomplete",
             home);
    assert_int_not_equal(stat(dir, &sb), 0); /* the bad bytes are gone */
}

static void test_gated(void **state)
{
    (void)state;
    char home[512];
    dc_hf_params p = hub_params(&srv, "gated", home, sizeof home);
    dc_hf_result r;
    dc_error err = {0};
    assert_int_equal(dc_hf_pull("gated/Secret-GGUF", &p, &r, &err), DC_STATUS_HTTP);
    assert_non_null(strstr(err.msg, "401"));
    assert_non_null(strstr(err.msg, "HF_TOKEN"));
    p.token = "secret";
    assert_int_equal(dc_hf_pull("gated/Secret-GGUF", &p, &r, &err), DC_STATUS_OK);
    assert_file_is(r.path, &files[4]);
    dc_hf_result_clear(&r);
}

static void test_cli(void **state)
{
    (void)state;
    const char *bin = getenv("SDC_BINARY");
    assert_non_null(bin);
    char home[512], out[512];
    snprintf(home, sizeof home, "%s/cli", srv.dir);
    snprintf(out, sizeof out, "%s/cli.out", srv.dir);
    pid_t pid = fork();
    if (pid == 0) {
        setenv("HF_ENDPOINT", srv.endpoint, 1);
        setenv("HF_HOME", home, 1);
        unsetenv("HF_TOKEN");
        unsetenv("HF_HUB_OFFLINE");
        freopen(out, "w", stdout);
        freopen("/dev/null", "w", stderr);
        execl(bin, bin, "model", "pull", "--json", "--quiet", "Qwen/Qwen3-0.6B", (char *)NULL);
        _exit(127);
    }
    int st;
    waitpid(pid, &st, 0);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    FILE *f = fopen(out, "rb");
    char line[4096] = "";
    assert_non_null(fgets(line, sizeof line, f));
    fclose(f);
    assert_non_null(strstr(line, "\"file\":\"Qwen3-0.6B-Q8_0.gguf\""));
    assert_non_null(strstr(line, "\"repo\":\"Qwen/Qwen3-0.6B-GGUF\""));
    assert_non_null(strstr(line, "\"from_cache\":false"));
    assert_non_null(strstr(line, "/snapshots/" SHA_MAIN "/Qwen3-0.6B-Q8_0.gguf"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sha256_vectors),
        cmocka_unit_test(test_refs),
        cmocka_unit_test(test_fresh_then_cached),
        cmocka_unit_test(test_quant_choice_and_errors),
        cmocka_unit_test(test_resume),
        cmocka_unit_test(test_checksum_mismatch),
        cmocka_unit_test(test_gated),
        cmocka_unit_test(test_cli),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
