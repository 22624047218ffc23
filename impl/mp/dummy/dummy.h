// mp/dummy/dummy.h — multiprocessing.dummy: the mp API on threads.
//
// Where Python's dummy module reuses the real thing (Pipe and Connection are
// plain objects there), mp::dummy names mp's.

#ifndef MP_DUMMY_DUMMY_H_
#define MP_DUMMY_DUMMY_H_

#include "mp/connection.h"
#include "mp/dummy/process.h"
#include "mp/dummy/sharedctypes.h"
#include "mp/dummy/synchronize.h"
#include "mp/queues.h"
#include "mp/shared_memory.h"
#include "mp/sharedctypes.h"

namespace mp::dummy {

using mp::Client;
using mp::Connection;
using mp::copy;
using mp::Listener;
using mp::Pipe;
using mp::SharedMemory;
using mp::wait;

}  // namespace mp::dummy

#endif  // MP_DUMMY_DUMMY_H_
