// mp/mp.h — everything: `#include "mp/mp.h"` is `import multiprocessing as mp`
// (and concurrent.futures: mp/futures.h).

#ifndef MP_MP_H_
#define MP_MP_H_

#include "mp/concepts.h"
#include "mp/connection.h"
#include "mp/context.h"
#include "mp/dummy/dummy.h"
#include "mp/errors.h"
#include "mp/futures.h"
#include "mp/managers.h"
#include "mp/pool.h"
#include "mp/process.h"
#include "mp/queues.h"
#include "mp/reduction.h"
#include "mp/shared_memory.h"
#include "mp/sharedctypes.h"
#include "mp/synchronize.h"
#include "mp/util.h"

#endif  // MP_MP_H_
