/* deepconf.h - the whole DeepConf core in one include. */
#ifndef DEEPCONF_H
#define DEEPCONF_H

#include "deepconf/dc_confidence.h"
#include "deepconf/dc_online.h"
#include "deepconf/dc_status.h"
#include "deepconf/dc_version.h"
#include "deepconf/dc_vote.h"

#endif /* DEEPCONF_H */
