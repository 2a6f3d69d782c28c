#ifndef COURIER_CRDKAFKA_SHIM_H
#define COURIER_CRDKAFKA_SHIM_H
#include <librdkafka/rdkafka.h>

/* rd_kafka_producev is variadic (Swift cannot call it): one fixed-argument wrapper.
   The payload and key are copied; on success librdkafka owns `headers`, on failure the caller does. */
static inline rd_kafka_resp_err_t courier_rdk_produce(rd_kafka_t *rk, const char *topic, int32_t partition,
                                                      const void *key, size_t key_len,
                                                      const void *payload, size_t len,
                                                      rd_kafka_headers_t *headers, void *opaque) {
    if (headers) {
        return rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(partition),
                                 RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                 RD_KAFKA_V_KEY(key, key_len), RD_KAFKA_V_VALUE((void *)payload, len),
                                 RD_KAFKA_V_HEADERS(headers), RD_KAFKA_V_OPAQUE(opaque), RD_KAFKA_V_END);
    }
    return rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(partition),
                             RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                             RD_KAFKA_V_KEY(key, key_len), RD_KAFKA_V_VALUE((void *)payload, len),
                             RD_KAFKA_V_OPAQUE(opaque), RD_KAFKA_V_END);
}

#endif
