/* hub_server.c - the Hub stand-in of test_hf_pull and test_hub_datasets. */
#include "support/hub_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int listen_fd = -1;
static pthread_t server_thread;
static hub_handler on_request;

static void send_all(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n) {
        ssize_t k = send(fd, c, n, MSG_NOSIGNAL);
        if (k <= 0)
            return;
        c += k;
        n -= (size_t)k;
    }
}

static void send_head(int fd, int code, const char *type, size_t len, const char *extra)
{
    char head[512];
    int n = snprintf(head, sizeof head,
                     "HTTP/1.1 %d X\r\n%s%s%sContent-Length: %zu\r\n%sConnection: close\r\n\r\n",
                     code, type ? "Content-Type: " : "", type ? type : "", type ? "\r\n" : "", len,
                     extra ? extra : "");
    send_all(fd, head, (size_t)n);
}

void hub_reply(int fd, int code, const char *type, const void *body, size_t len, const char *extra)
{
    send_head(fd, code, type, len, extra);
    send_all(fd, body, len);
}

void hub_reply_json(int fd, int code, const char *json)
{
    hub_reply(fd, code, "application/json", json, strlen(json), NULL);
}

void hub_reply_file(int fd, const unsigned char *data, size_t size, long range, volatile int *cut,
                    volatile int *ranged)
{
    size_t from = range > 0 && (size_t)range < size ? (size_t)range : 0;
    char extra[256] = "Accept-Ranges: bytes\r\n";
    int code = 200;
    if (from) {
        (*ranged)++;
        code = 206;
        snprintf(extra, sizeof extra, "Content-Range: bytes %zu-%zu/%zu\r\n", from, size - 1, size);
    }
    size_t len = size - from;
    if (*cut > 0 && (size_t)*cut < len) {
        /* Promise everything, send part, hang up: an interrupted transfer. */
        send_head(fd, code, NULL, len, extra);
        send_all(fd, data + from, (size_t)*cut);
        *cut = 0;
        return;
    }
    hub_reply(fd, code, "application/octet-stream", data + from, len, extra);
}

static void handle(int fd)
{
    char req[8192] = "";
    size_t got = 0;
    while (got < sizeof req - 1 && !strstr(req, "\r\n\r\n")) {
        ssize_t k = recv(fd, req + got, sizeof req - 1 - got, 0);
        if (k <= 0)
            return;
        got += (size_t)k;
        req[got] = '\0';
    }
    char method[16], path[2048];
    if (sscanf(req, "%15s %2047s", method, path) != 2)
        return;
    const char *r = strstr(req, "Range: bytes=");
    hub_request rq = {path, strstr(req, "Authorization: Bearer secret") != NULL,
                      r ? atol(r + 13) : -1};
    on_request(fd, &rq);
}

static void *serve(void *arg)
{
    (void)arg;
    for (;;) {
        int fd = accept(listen_fd, NULL, NULL);
        if (fd < 0) {
            if (errno == EINTR)
                continue;
            return NULL;
        }
        handle(fd);
        close(fd);
    }
}

int hub_server_start(hub_handler handler, const char *dir_template, hub_env *env)
{
    on_request = handler;
    listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (listen_fd < 0 || bind(listen_fd, (struct sockaddr *)&a, sizeof a) ||
        listen(listen_fd, 16) || getsockname(listen_fd, (struct sockaddr *)&a, &len))
        return -1;
    snprintf(env->endpoint, sizeof env->endpoint, "http://127.0.0.1:%d", ntohs(a.sin_port));
    if (pthread_create(&server_thread, NULL, serve, NULL) != 0)
        return -1;
    snprintf(env->dir, sizeof env->dir, "%s", dir_template);
    return mkdtemp(env->dir) ? 0 : -1;
}

int hub_server_stop(const hub_env *env)
{
    shutdown(listen_fd, SHUT_RDWR);
    close(listen_fd);
    pthread_join(server_thread, NULL);
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", env->dir);
    return system(cmd) == 0 ? 0 : -1;
}

dc_hf_params hub_params(const hub_env *env, const char *home_name, char *home, size_t size)
{
    snprintf(home, size, "%s/%s", env->dir, home_name);
    dc_hf_params p = dc_hf_default_params();
    p.endpoint = env->endpoint;
    p.home = home;
    p.token = "";
    p.connect_timeout_s = 5;
    p.low_speed_time_s = 5;
    return p;
}
