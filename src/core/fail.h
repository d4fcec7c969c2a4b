/* fail.h - jwts_fail moved to the public jwtsession/error.h; this forwarder goes once every include
 * is renamed. */
#include "jwtsession/error.h"
