#include "mp/internal/base/fault.h"

namespace mp::internal {

const char* fault_point_name(FaultPoint point) noexcept {
  switch (point) {
    case FaultPoint::kRingPutLocked:
      return "ring.put.locked";
    case FaultPoint::kRingPutWritten:
      return "ring.put.written";
    case FaultPoint::kRingPutCommitted:
      return "ring.put.committed";
    case FaultPoint::kRingPutUnlocked:
      return "ring.put.unlocked";
    case FaultPoint::kRingGetLocked:
      return "ring.get.locked";
    case FaultPoint::kRingGetCopied:
      return "ring.get.copied";
    case FaultPoint::kRingGetCommitted:
      return "ring.get.committed";
    case FaultPoint::kRingGetUnlocked:
      return "ring.get.unlocked";
    case FaultPoint::kRingReleasing:
      return "ring.release_overflow";
    case FaultPoint::kLockTaken:
      return "lock.taken";
    case FaultPoint::kLockReleasing:
      return "lock.releasing";
    case FaultPoint::kChildStarting:
      return "child.starting";
    case FaultPoint::kChildLaunched:
      return "child.launched";
    case FaultPoint::kCount:
      break;
  }
  return "?";
}

}  // namespace mp::internal
