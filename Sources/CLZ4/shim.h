// liblz4 (Debian liblz4-dev): block and frame APIs.
#include <lz4.h>
#include <lz4frame.h>
