/* dc_build_info.h - what this build of the library contains. */
#ifndef DC_BUILD_INFO_H
#define DC_BUILD_INFO_H

#ifdef __cplusplus
extern "C" {
#endif

/* 1 when the in-process llama.cpp backend is compiled in. */
int dc_have_llama(void);

/* One line per component: library version, llama.cpp (with its CPU
 * features, or "not built in"), libcurl, jansson. Static storage, built
 * on the first call (not thread-safe on that first call). */
const char *dc_build_info(void);

#ifdef __cplusplus
}
#endif

#endif /* DC_BUILD_INFO_H */
