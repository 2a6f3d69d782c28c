#ifndef COURIER_CNATS_SHIM_H
#define COURIER_CNATS_SHIM_H
#include <nats/nats.h>
#endif
