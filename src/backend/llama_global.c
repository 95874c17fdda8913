/* llama_global.c - llama.cpp's process-wide state: backend init and the
 * log sink (llama_global.h). */
#include "backend/llama_global.h"

#ifdef SDC_HAVE_LLAMA

#include <llama.h>
#include <pthread.h>
#include <stddef.h>

static pthread_once_t backend_once = PTHREAD_ONCE_INIT;
static void (*log_fn)(void *, int, const char *);
static void *log_user;

static void backend_init_once(void)
{
    llama_backend_init();
}

void dc_llama_global_init(void)
{
    pthread_once(&backend_once, backend_init_once);
}

void dc_llama_global_log_to(void (*fn)(void *user, int level, const char *text), void *user)
{
    log_fn = fn;
    log_user = user;
}

static void log_trampoline(enum ggml_log_level level, const char *text, void *user)
{
    (void)user;
    if (log_fn)
        log_fn(log_user, (int)level, text);
}

void dc_llama_global_logs_install(void)
{
    llama_log_set(log_trampoline, NULL);
}

#else
typedef int dc_llama_global_unused; /* ISO C: a translation unit is not empty */
#endif /* SDC_HAVE_LLAMA */
