#ifndef COURIER_CMOSQUITTO_SHIM_H
#define COURIER_CMOSQUITTO_SHIM_H
#include <mosquitto.h>
#endif
