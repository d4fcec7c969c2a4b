/*
 * jwtsession.h - the umbrella header of libjwtsession: include this one.
 */
#ifndef JWTSESSION_JWTSESSION_H
#define JWTSESSION_JWTSESSION_H

#include "b64url.h"
#include "buf.h"
#include "clock.h"
#include "ctx.h"
#include "error.h"
#include "events.h"
#include "jose.h"
#include "manager.h"
#include "metrics.h"
#include "observe.h"
#include "random.h"
#include "session.h"
#include "store.h"
#include "store_file.h"
#include "store_redis.h"
#include "store_redis_cluster.h"
#include "trace.h"
#include "version.h"

#endif
