#ifndef COURIER_CRABBITMQ_SHIM_H
#define COURIER_CRABBITMQ_SHIM_H
#include <amqp.h>
#include <amqp_tcp_socket.h>
#include <amqp_ssl_socket.h>
#include <stdio.h>
#include <string.h>

/* amqp_login is variadic: a fixed-argument PLAIN login. */
static inline amqp_rpc_reply_t courier_amqp_login(amqp_connection_state_t s, const char *vhost, int heartbeat,
                                                  const char *user, const char *password) {
    return amqp_login(s, vhost, 0, 131072, heartbeat, AMQP_SASL_METHOD_PLAIN, user, password);
}

/* Writes a readable description of a failed RPC reply into buf; returns 1 when the reply is normal. */
static inline int courier_amqp_reply(amqp_rpc_reply_t r, char *buf, size_t len) {
    switch (r.reply_type) {
    case AMQP_RESPONSE_NORMAL: return 1;
    case AMQP_RESPONSE_NONE: snprintf(buf, len, "missing RPC reply"); return 0;
    case AMQP_RESPONSE_LIBRARY_EXCEPTION: snprintf(buf, len, "%s", amqp_error_string2(r.library_error)); return 0;
    case AMQP_RESPONSE_SERVER_EXCEPTION:
        if (r.reply.id == AMQP_CONNECTION_CLOSE_METHOD) {
            amqp_connection_close_t *m = (amqp_connection_close_t *)r.reply.decoded;
            snprintf(buf, len, "connection closed by the server: %d %.*s", m->reply_code, (int)m->reply_text.len, (char *)m->reply_text.bytes);
        } else if (r.reply.id == AMQP_CHANNEL_CLOSE_METHOD) {
            amqp_channel_close_t *m = (amqp_channel_close_t *)r.reply.decoded;
            snprintf(buf, len, "channel closed by the server: %d %.*s", m->reply_code, (int)m->reply_text.len, (char *)m->reply_text.bytes);
        } else {
            snprintf(buf, len, "server exception, method 0x%08X", r.reply.id);
        }
        return 0;
    }
    snprintf(buf, len, "unknown reply");
    return 0;
}

/* Table entries: a string and an integer setter, and a reader that renders any scalar as text. */
static inline void courier_amqp_entry_string(amqp_table_entry_t *e, const char *key, const char *value) {
    e->key = amqp_cstring_bytes(key);
    e->value.kind = AMQP_FIELD_KIND_UTF8;
    e->value.value.bytes = amqp_cstring_bytes(value);
}
static inline void courier_amqp_entry_int(amqp_table_entry_t *e, const char *key, int64_t value) {
    e->key = amqp_cstring_bytes(key);
    e->value.kind = AMQP_FIELD_KIND_I64;
    e->value.value.i64 = value;
}
/* Returns the value's text length written into buf (truncated to len-1), or -1 for nested kinds. */
static inline int courier_amqp_entry_text(const amqp_field_value_t *v, char *buf, size_t len) {
    switch (v->kind) {
    case AMQP_FIELD_KIND_UTF8: case AMQP_FIELD_KIND_BYTES:
        return snprintf(buf, len, "%.*s", (int)v->value.bytes.len, (char *)v->value.bytes.bytes);
    case AMQP_FIELD_KIND_BOOLEAN: return snprintf(buf, len, "%s", v->value.boolean ? "true" : "false");
    case AMQP_FIELD_KIND_I8: return snprintf(buf, len, "%d", v->value.i8);
    case AMQP_FIELD_KIND_U8: return snprintf(buf, len, "%u", v->value.u8);
    case AMQP_FIELD_KIND_I16: return snprintf(buf, len, "%d", v->value.i16);
    case AMQP_FIELD_KIND_U16: return snprintf(buf, len, "%u", v->value.u16);
    case AMQP_FIELD_KIND_I32: return snprintf(buf, len, "%d", v->value.i32);
    case AMQP_FIELD_KIND_U32: return snprintf(buf, len, "%u", v->value.u32);
    case AMQP_FIELD_KIND_I64: case AMQP_FIELD_KIND_TIMESTAMP: return snprintf(buf, len, "%lld", (long long)v->value.i64);
    case AMQP_FIELD_KIND_U64: return snprintf(buf, len, "%llu", (unsigned long long)v->value.u64);
    case AMQP_FIELD_KIND_F32: return snprintf(buf, len, "%g", v->value.f32);
    case AMQP_FIELD_KIND_F64: return snprintf(buf, len, "%g", v->value.f64);
    default: return -1;
    }
}

/* Publisher confirms: what a method frame says. kind: 1 ack, 2 nack, 3 return, 0 other. */
static inline int courier_amqp_confirm(const amqp_frame_t *f, uint64_t *tag, int *multiple) {
    if (f->frame_type != AMQP_FRAME_METHOD) return 0;
    switch (f->payload.method.id) {
    case AMQP_BASIC_ACK_METHOD: {
        amqp_basic_ack_t *a = (amqp_basic_ack_t *)f->payload.method.decoded;
        *tag = a->delivery_tag; *multiple = a->multiple; return 1;
    }
    case AMQP_BASIC_NACK_METHOD: {
        amqp_basic_nack_t *n = (amqp_basic_nack_t *)f->payload.method.decoded;
        *tag = n->delivery_tag; *multiple = n->multiple; return 2;
    }
    case AMQP_BASIC_RETURN_METHOD: return 3;
    case AMQP_CHANNEL_CLOSE_METHOD: return 4;
    case AMQP_CONNECTION_CLOSE_METHOD: return 5;
    default: return 0;
    }
}
#endif
