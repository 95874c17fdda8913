/* fault_server.c - see fault_server.h. One thread accepts, one thread per
 * connection answers (at most FS_MAX_CONN over the server's life), every
 * connection is closed after one reply. */
#include "support/fault_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define FS_MAX_CONN 512
#define FS_MAX_LOG 512
#define FS_MAX_REQ (1 << 20)
#define FS_SLEEP_MAX_MS 5000

typedef struct fs_log {
    char scenario[32];
    double t;
} fs_log;

struct fault_server {
    int fd;
    int port;
    char data_dir[1024];
    volatile int stopping;
    pthread_t acceptor;
    pthread_mutex_t mu;
    pthread_t threads[FS_MAX_CONN];
    int n_threads;
    fs_log log[FS_MAX_LOG];
    int n_log;
    char last[8192];
    int long_sent;
};

typedef struct fs_conn {
    fault_server *s;
    int fd;
} fs_conn;

static double mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Sleeps ms (bounded), waking early when the server stops. */
static void nap(fault_server *s, int ms)
{
    if (ms > FS_SLEEP_MAX_MS)
        ms = FS_SLEEP_MAX_MS;
    for (int waited = 0; waited < ms && !s->stopping; waited += 10) {
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

/* ---- writing ---- */

static int send_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w <= 0) {
            if (w < 0 && errno == EINTR)
                continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static int send_str(int fd, const char *s)
{
    return send_all(fd, s, strlen(s));
}

static const char *status_text(int code)
{
    switch (code) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 429: return "Too Many Requests";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    default: return "Status";
    }
}

static int send_whole(int fd, int code, const char *ctype, const char *extra, const char *body)
{
    char head[512];
    snprintf(
        head, sizeof head,
        "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%sConnection: close\r\n\r\n",
        code, status_text(code), ctype, strlen(body), extra ? extra : "");
    if (send_str(fd, head) != 0)
        return -1;
    return send_str(fd, body);
}

static int stream_begin(int fd)
{
    return send_str(fd, "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                        "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n");
}

/* One chunk of the chunked encoding. */
static int stream_chunk(int fd, const char *p, size_t n)
{
    char head[32];
    snprintf(head, sizeof head, "%zx\r\n", n);
    if (send_str(fd, head) != 0 || send_all(fd, p, n) != 0)
        return -1;
    return send_str(fd, "\r\n");
}

static int stream_event(int fd, const char *json)
{
    size_t n = strlen(json) + 16;
    char *ev = malloc(n);
    if (!ev)
        return -1;
    snprintf(ev, n, "data: %s\n\n", json);
    int rc = stream_chunk(fd, ev, strlen(ev));
    free(ev);
    return rc;
}

static int stream_end(int fd)
{
    return send_str(fd, "0\r\n\r\n");
}

/* ---- synthetic replies ---- */

typedef struct fs_req {
    int chat;
    int stream;
    long max_tokens;
    long k;
} fs_req;

static double tok_lp(int i)
{
    return -0.125 * (double)(i % 4 + 1);
}

/* The logprobs object of tokens [from, to). */
static json_t *make_logprobs(const fs_req *r, int from, int to)
{
    json_t *lp = json_object();
    if (r->chat) {
        json_t *content = json_array();
        for (int i = from; i < to; i++) {
            char t[32];
            snprintf(t, sizeof t, "t%d", i);
            json_t *top = json_array();
            for (long j = 0; j < r->k; j++) {
                char a[32];
                if (j == 0)
                    snprintf(a, sizeof a, "%s", t);
                else
                    snprintf(a, sizeof a, "a%ld", j);
                json_array_append_new(top, json_pack("{s:s,s:f}", "token", a, "logprob",
                                                     tok_lp(i) - 0.5 * (double)j));
            }
            json_array_append_new(content, json_pack("{s:s,s:f,s:o}", "token", t, "logprob",
                                                     tok_lp(i), "top_logprobs", top));
        }
        json_object_set_new(lp, "content", content);
    } else {
        json_t *toks = json_array(), *lps = json_array(), *tops = json_array();
        for (int i = from; i < to; i++) {
            char t[32];
            snprintf(t, sizeof t, "t%d", i);
            json_array_append_new(toks, json_string(t));
            json_array_append_new(lps, json_real(tok_lp(i)));
            json_t *d = json_object();
            for (long j = 0; j < r->k; j++) {
                char a[32];
                if (j == 0)
                    snprintf(a, sizeof a, "%s", t);
                else
                    snprintf(a, sizeof a, "a%ld", j);
                json_object_set_new(d, a, json_real(tok_lp(i) - 0.5 * (double)j));
            }
            json_array_append_new(tops, d);
        }
        json_object_set_new(lp, "tokens", toks);
        json_object_set_new(lp, "token_logprobs", lps);
        json_object_set_new(lp, "top_logprobs", tops);
    }
    return lp;
}

static char *make_chunk(const fs_req *r, int from, int to, const char *finish, int with_lp)
{
    char text[4096] = "";
    for (int i = from; i < to && strlen(text) < sizeof text - 16; i++)
        snprintf(text + strlen(text), sizeof text - strlen(text), "t%d", i);
    json_t *ch = json_object();
    json_object_set_new(ch, "index", json_integer(0));
    if (r->chat) {
        const char *key = r->stream ? "delta" : "message";
        json_object_set_new(ch, key, json_pack("{s:s,s:s}", "role", "assistant", "content", text));
    } else {
        json_object_set_new(ch, "text", json_string(text));
    }
    json_object_set_new(ch, "logprobs", with_lp ? make_logprobs(r, from, to) : json_null());
    json_object_set_new(ch, "finish_reason", finish ? json_string(finish) : json_null());
    json_t *root = json_pack("{s:s,s:s,s:[o]}", "id", "fault-1", "object",
                             r->chat ? (r->stream ? "chat.completion.chunk" : "chat.completion")
                                     : "text_completion",
                             "choices", ch);
    if (finish)
        json_object_set_new(root, "usage",
                            json_pack("{s:i,s:i}", "prompt_tokens", 7, "completion_tokens", to));
    char *s = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    return s;
}

/* n tokens; cut: stop writing after `cut` tokens (-1: never); stall: go
 * silent after the cut instead of closing. Returns tokens written. */
static int reply_tokens(fault_server *s, int fd, const fs_req *r, int n, int cut, int stall,
                        int gap_ms)
{
    const char *finish = n >= r->max_tokens ? "length" : "stop";
    if (!r->stream) {
        if (cut >= 0) { /* a whole reply cut short: headers promise more than comes */
            char *body = make_chunk(r, 0, n, finish, 1);
            char head[256];
            snprintf(head, sizeof head,
                     "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
                     "Connection: close\r\n\r\n",
                     strlen(body));
            send_str(fd, head);
            send_all(fd, body, strlen(body) / 2);
            free(body);
            if (stall)
                nap(s, FS_SLEEP_MAX_MS);
            return 0;
        }
        char *body = make_chunk(r, 0, n, finish, 1);
        send_whole(fd, 200, "application/json", NULL, body);
        free(body);
        return n;
    }
    if (stream_begin(fd) != 0)
        return 0;
    for (int i = 0; i < n; i++) {
        if (i == cut) {
            if (stall)
                nap(s, FS_SLEEP_MAX_MS);
            return i;
        }
        char *c = make_chunk(r, i, i + 1, NULL, 1);
        int rc = stream_event(fd, c);
        free(c);
        if (rc != 0)
            return i;
        if (gap_ms)
            nap(s, gap_ms);
        if (s->stopping)
            return i;
    }
    char *c = make_chunk(r, n, n, finish, 0);
    stream_event(fd, c);
    free(c);
    stream_event(fd, "{\"id\":\"fault-1\",\"choices\":[],\"usage\":{\"prompt_tokens\":7}}");
    stream_chunk(fd, "data: [DONE]\n\n", 14);
    stream_end(fd);
    return n;
}

/* ---- files ---- */

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = malloc(FS_MAX_REQ + 1);
    size_t n = buf ? fread(buf, 1, FS_MAX_REQ, f) : 0;
    fclose(f);
    if (buf)
        buf[n] = '\0';
    *len = n;
    return buf;
}

static void reply_file(fault_server *s, int fd, const char *name, int with_status)
{
    char path[2048];
    size_t len = 0;
    if (strstr(name, "..") || strchr(name, '/')) {
        send_whole(fd, 404, "text/plain", NULL, "bad name");
        return;
    }
    snprintf(path, sizeof path, "%s/openai/%s", s->data_dir, name);
    char *body = read_file(path, &len);
    if (!body) {
        send_whole(fd, 404, "text/plain", NULL, "no such file");
        return;
    }
    int code = 200;
    if (with_status) {
        json_t *j = json_loads(body, 0, NULL);
        json_t *c = json_object_get(json_object_get(j, "error"), "code");
        if (!c)
            c = json_object_get(j, "code");
        code = json_is_integer(c) ? (int)json_integer_value(c) : 500;
        json_decref(j);
    }
    size_t n = strlen(name);
    if (n > 4 && strcmp(name + n - 4, ".sse") == 0) {
        if (stream_begin(fd) == 0) {
            /* in pieces that cut lines and events anywhere */
            for (size_t off = 0; off < len; off += 37)
                if (stream_chunk(fd, body + off, len - off < 37 ? len - off : 37) != 0)
                    break;
            stream_end(fd);
        }
    } else {
        send_whole(fd, code, "application/json", NULL, body);
    }
    free(body);
}

/* ---- one connection ---- */

static int count_locked(fault_server *s, const char *scenario)
{
    int n = 0;
    for (int i = 0; i < s->n_log; i++)
        if (!scenario || !*scenario || strcmp(s->log[i].scenario, scenario) == 0)
            n++;
    return n;
}

/* Reads one request: headers, then Content-Length bytes. */
static char *read_request(int fd, size_t *head_len, size_t *total)
{
    char *buf = malloc(FS_MAX_REQ + 1);
    size_t n = 0, need = 0;
    if (!buf)
        return NULL;
    *head_len = 0;
    for (int rounds = 0; rounds < 100000 && n < FS_MAX_REQ; rounds++) {
        ssize_t r = recv(fd, buf + n, FS_MAX_REQ - n, 0);
        if (r <= 0)
            break;
        n += (size_t)r;
        buf[n] = '\0';
        if (!*head_len) {
            char *e = strstr(buf, "\r\n\r\n");
            if (!e)
                continue;
            *head_len = (size_t)(e - buf) + 4;
            char *cl = strstr(buf, "Content-Length:");
            if (!cl)
                cl = strstr(buf, "content-length:");
            need = *head_len + (cl && cl < e ? strtoul(cl + 15, NULL, 10) : 0);
        }
        if (*head_len && n >= need)
            break;
    }
    buf[n] = '\0';
    *total = n;
    if (!*head_len) {
        free(buf);
        return NULL;
    }
    return buf;
}

static void parse_req(const char *body, int chat, fs_req *r)
{
    json_t *j = json_loads(body, 0, NULL);
    r->chat = chat;
    r->stream = json_is_true(json_object_get(j, "stream"));
    json_t *mt = json_object_get(j, "max_tokens");
    r->max_tokens = json_is_integer(mt) ? (long)json_integer_value(mt) : 16;
    json_t *k = json_object_get(j, chat ? "top_logprobs" : "logprobs");
    r->k = json_is_integer(k) ? (long)json_integer_value(k) : 0;
    if (r->k > 64)
        r->k = 64;
    json_decref(j);
}

static void *serve(void *arg)
{
    fs_conn *c = arg;
    fault_server *s = c->s;
    int fd = c->fd;
    free(c);
    struct timeval tv = {5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    size_t head_len = 0, total = 0;
    char *req = read_request(fd, &head_len, &total);
    if (!req) {
        close(fd);
        return NULL;
    }
    char method[8] = "", path[512] = "";
    sscanf(req, "%7s %511s", method, path);
    char scenario[32] = "", sarg[256] = "";
    const char *p = path + (path[0] == '/');
    const char *slash = strchr(p, '/');
    size_t sl = slash ? (size_t)(slash - p) : strlen(p);
    snprintf(scenario, sizeof scenario, "%.*s", (int)(sl < 31 ? sl : 31), p);
    if (slash && strncmp(slash + 1, "v1", 2) != 0) {
        const char *a = slash + 1;
        const char *e = strchr(a, '/');
        size_t al = e ? (size_t)(e - a) : strlen(a);
        snprintf(sarg, sizeof sarg, "%.*s", (int)(al < 255 ? al : 255), a);
    }
    pthread_mutex_lock(&s->mu);
    int seen = count_locked(s, scenario);
    if (s->n_log < FS_MAX_LOG) {
        snprintf(s->log[s->n_log].scenario, sizeof s->log[0].scenario, "%s", scenario);
        s->log[s->n_log].t = mono();
        s->n_log++;
    }
    snprintf(s->last, sizeof s->last, "%s", req);
    pthread_mutex_unlock(&s->mu);

    const char *body = req + head_len;
    fs_req r;
    parse_req(body, strstr(path, "/chat/completions") != NULL, &r);
    int first = seen == 0;
    int n_arg = sarg[0] ? atoi(sarg) : -1;
    int n_ok = r.max_tokens < 6 ? (int)r.max_tokens : 6;

    if (strcmp(method, "GET") == 0 && strstr(path, "/models")) {
        send_whole(
            fd, 200, "application/json", NULL,
            "{\"object\":\"list\",\"data\":[{\"id\":\"fault-model\",\"object\":\"model\"}]}");
    } else if (strcmp(scenario, "ok") == 0) {
        reply_tokens(s, fd, &r, n_arg >= 0 ? n_arg : n_ok, -1, 0, 0);
    } else if (strcmp(scenario, "drop") == 0 || strcmp(scenario, "dropall") == 0) {
        int cut = (first || scenario[4] == 'a') ? n_arg : -1;
        reply_tokens(s, fd, &r, n_ok, cut, 0, 0);
    } else if (strcmp(scenario, "stall") == 0 || strcmp(scenario, "stallall") == 0) {
        int cut = (first || scenario[5] == 'a') ? n_arg : -1;
        reply_tokens(s, fd, &r, n_ok, cut, 1, 0);
    } else if (strcmp(scenario, "s500") == 0 && first) {
        send_whole(fd, 500, "application/json", NULL,
                   "{\"error\":{\"code\":500,\"message\":\"CUDA out of memory (injected)\","
                   "\"type\":\"server_error\"}}");
    } else if (strcmp(scenario, "s429") == 0 && first) {
        send_whole(fd, 429, "application/json", "Retry-After: 1\r\n",
                   "{\"error\":{\"code\":429,\"message\":\"too many requests (injected)\"}}");
    } else if (strcmp(scenario, "s503all") == 0) {
        send_whole(fd, 503, "text/plain", NULL, "service unavailable (injected)");
    } else if (strcmp(scenario, "s400echo") == 0) {
        const char *auth = strstr(req, "Authorization: ");
        char msg[600];
        snprintf(msg, sizeof msg, "{\"error\":{\"code\":400,\"message\":\"bad header %.*s\"}}",
                 auth ? (int)strcspn(auth, "\r\n") : 4, auth ? auth : "none");
        send_whole(fd, 400, "application/json", NULL, msg);
    } else if (strcmp(scenario, "garbage") == 0) {
        if (stream_begin(fd) == 0) {
            stream_event(fd, "{\"choices\": [{\"index\": 0, \"delta\": {\"content\": \"x\"");
            stream_end(fd);
        }
    } else if (strcmp(scenario, "nologprobs") == 0) {
        if (stream_begin(fd) == 0) {
            stream_event(fd, "{\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"},"
                             "\"finish_reason\":null}]}");
            stream_event(fd,
                         "{\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}");
            stream_chunk(fd, "data: [DONE]\n\n", 14);
            stream_end(fd);
        }
    } else if (strcmp(scenario, "nofirst") == 0 && first) {
        nap(s, FS_SLEEP_MAX_MS);
    } else if (strcmp(scenario, "hugeline") == 0) {
        if (stream_begin(fd) == 0) {
            size_t n = (size_t)2 << 20;
            char *big = malloc(n);
            if (big) {
                memset(big, 'x', n);
                memcpy(big, "data: \"", 7);
                stream_chunk(fd, big, n);
                free(big);
            }
            stream_end(fd);
        }
    } else if (strcmp(scenario, "long") == 0) {
        r.max_tokens = 2000;
        int sent = reply_tokens(s, fd, &r, 2000, -1, 0, 5);
        if (sent < 2000) {
            pthread_mutex_lock(&s->mu);
            s->long_sent = sent;
            pthread_mutex_unlock(&s->mu);
        }
    } else if (strcmp(scenario, "file") == 0 || strcmp(scenario, "ferr") == 0) {
        reply_file(s, fd, sarg, scenario[1] == 'e');
    } else { /* the second try of a "first request fails" scenario */
        reply_tokens(s, fd, &r, n_ok, -1, 0, 0);
    }
    free(req);
    shutdown(fd, SHUT_RDWR);
    close(fd);
    return NULL;
}

/* ---- the server ---- */

static void *accept_loop(void *arg)
{
    fault_server *s = arg;
    while (!s->stopping) {
        struct pollfd pfd = {s->fd, POLLIN, 0};
        if (poll(&pfd, 1, 50) <= 0)
            continue;
        int fd = accept(s->fd, NULL, NULL);
        if (fd < 0)
            continue;
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        fs_conn *c = malloc(sizeof *c);
        pthread_mutex_lock(&s->mu);
        int room = s->n_threads < FS_MAX_CONN;
        if (c && room) {
            c->s = s;
            c->fd = fd;
            if (pthread_create(&s->threads[s->n_threads], NULL, serve, c) == 0)
                s->n_threads++;
            else
                room = 0;
        }
        pthread_mutex_unlock(&s->mu);
        if (!c || !room) {
            free(c);
            close(fd);
        }
    }
    return NULL;
}

fault_server *fault_server_start(const char *data_dir)
{
    fault_server *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    snprintf(s->data_dir, sizeof s->data_dir, "%s", data_dir ? data_dir : ".");
    s->long_sent = -1;
    pthread_mutex_init(&s->mu, NULL);
    s->fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    socklen_t al = sizeof a;
    if (s->fd < 0 || bind(s->fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(s->fd, 128) != 0 ||
        getsockname(s->fd, (struct sockaddr *)&a, &al) != 0) {
        if (s->fd >= 0)
            close(s->fd);
        free(s);
        return NULL;
    }
    s->port = ntohs(a.sin_port);
    if (pthread_create(&s->acceptor, NULL, accept_loop, s) != 0) {
        close(s->fd);
        free(s);
        return NULL;
    }
    return s;
}

int fault_server_port(const fault_server *s)
{
    return s->port;
}

void fault_server_stop(fault_server *s)
{
    if (!s)
        return;
    s->stopping = 1;
    pthread_join(s->acceptor, NULL);
    for (int i = 0; i < s->n_threads; i++)
        pthread_join(s->threads[i], NULL);
    close(s->fd);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

int fault_server_count(fault_server *s, const char *scenario)
{
    pthread_mutex_lock(&s->mu);
    int n = count_locked(s, scenario);
    pthread_mutex_unlock(&s->mu);
    return n;
}

double fault_server_span(fault_server *s, const char *scenario)
{
    double a = -1, b = -1;
    pthread_mutex_lock(&s->mu);
    for (int i = 0; i < s->n_log; i++) {
        if (strcmp(s->log[i].scenario, scenario) != 0)
            continue;
        if (a < 0)
            a = s->log[i].t;
        b = s->log[i].t;
    }
    pthread_mutex_unlock(&s->mu);
    return a < 0 ? 0 : b - a;
}

void fault_server_last(fault_server *s, char *buf, size_t size)
{
    pthread_mutex_lock(&s->mu);
    snprintf(buf, size, "%s", s->last);
    pthread_mutex_unlock(&s->mu);
}

int fault_server_long_sent(fault_server *s)
{
    pthread_mutex_lock(&s->mu);
    int n = s->long_sent;
    pthread_mutex_unlock(&s->mu);
    return n;
}
