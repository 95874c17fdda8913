/* dc_version.h - library version. */
#ifndef DC_VERSION_H
#define DC_VERSION_H

#define DC_VERSION_MAJOR 0
#define DC_VERSION_MINOR 1
#define DC_VERSION_PATCH 0
#define DC_VERSION_STRING "0.1.0"

#ifdef __cplusplus
extern "C" {
#endif

/* DC_VERSION_STRING of the library actually linked. Static string. */
const char *dc_version(void);

#ifdef __cplusplus
}
#endif

#endif /* DC_VERSION_H */
