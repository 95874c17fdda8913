/* hub_server.h - the Hugging Face Hub stand-in of the pull tests: a thread
 * on 127.0.0.1 that reads each request's head and hands it to the test's
 * handler, which answers with the helpers below. One connection at a time;
 * every reply closes its connection. */
#ifndef SDC_TEST_HUB_SERVER_H
#define SDC_TEST_HUB_SERVER_H

#include <stddef.h>

#include "deepconf/dc_hf.h"

typedef struct hub_request {
    const char *path; /* the request target, query included */
    int authed;       /* it sent "Authorization: Bearer secret" */
    long range;       /* the N of "Range: bytes=N-"; -1 without one */
} hub_request;

/* Answers one request on fd (borrowed; the server closes it). */
typedef void (*hub_handler)(int fd, const hub_request *rq);

/* Where the stand-in listens, and a scratch folder for the caches its
 * clients write; filled by hub_server_start. */
typedef struct hub_env {
    char endpoint[64]; /* http://127.0.0.1:PORT */
    char dir[256];
} hub_env;

/* Listens on an ephemeral port, serves from a thread, and makes env->dir
 * from dir_template (mkdtemp's XXXXXX). 0 on success, -1 on failure. */
int hub_server_start(hub_handler handler, const char *dir_template, hub_env *env);
/* Stops accepting, joins the thread, removes env->dir. 0 on success. */
int hub_server_stop(const hub_env *env);

/* Params that pull from the stand-in into a fresh HF_HOME, env->dir/home_name
 * (written into home), with no token and short timeouts. */
dc_hf_params hub_params(const hub_env *env, const char *home_name, char *home, size_t size);

/* A reply with Content-Length; type NULL sends no Content-Type; extra is
 * more header lines, each ending in "\r\n" (or NULL). */
void hub_reply(int fd, int code, const char *type, const void *body, size_t len, const char *extra);
void hub_reply_json(int fd, int code, const char *json);

/* A file download: 200, or 206 from byte range (when 0 < range < size),
 * counted in *ranged. When *cut is more than 0 and less than the length,
 * the whole length is promised, *cut bytes are sent and the connection is
 * dropped (an interrupted transfer); *cut is then 0. */
void hub_reply_file(int fd, const unsigned char *data, size_t size, long range, volatile int *cut,
                    volatile int *ranged);

#endif
