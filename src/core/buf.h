/* buf.h - moved to the public jwtsession/buf.h; this forwarder goes once every include is renamed. */
#include "jwtsession/buf.h"
