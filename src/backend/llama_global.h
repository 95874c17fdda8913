/* llama_global.h - llama.cpp's process-wide state, set up in one place
 * (internal; only with SDC_HAVE_LLAMA): its backend initialised once, and
 * its log sink, which the library never lets print. */
#ifndef DC_BACKEND_LLAMA_GLOBAL_H
#define DC_BACKEND_LLAMA_GLOBAL_H

/* Initialises llama.cpp's backend once per process (thread-safe). */
void dc_llama_global_init(void);

/* Where llama.cpp's and ggml's log lines go from now on (level as
 * ggml_log_level); NULL: dropped. Process-wide, as llama.cpp's logger is;
 * the last dc_backend_llama_open() sets it. */
void dc_llama_global_log_to(void (*fn)(void *user, int level, const char *text), void *user);

/* Routes llama.cpp's and ggml's log lines to the sink above, so that
 * reading a GGUF header (which logs through ggml) prints nothing. */
void dc_llama_global_logs_install(void);

#endif
