// libpq (Debian libpq-dev 15).
#include <libpq-fe.h>
