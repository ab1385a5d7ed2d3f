/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Handover bundles (docs/ports.md, "Transfer"): what a port carries along
 * when it travels while messages are still on their way, as records in one
 * payload (port-frame.h says which records, in which order).
 */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include <ipcbus/ipcbus-port.h>

#include "port-frame.h"

uint64_t port_frame_record_size(uint64_t payload_size) {
        return PORT_FRAME_HEADER_SIZE + PORT_FRAME_ALIGN8(payload_size);
}

uint64_t port_frame_partial_record_size(uint64_t received) {
        return PORT_FRAME_HEADER_SIZE + 8 + PORT_FRAME_ALIGN8(received);
}

void port_frame_record_write(void *dst, GVariant *value, unsigned n_ports) {
        uint8_t *p = dst;
        uint64_t size = port_frame_payload_size(value);

        port_frame_header_write(p, PORT_FRAME_MESSAGE, 0, (uint8_t)n_ports, size);
        port_frame_payload_write(value, p + PORT_FRAME_HEADER_SIZE);
        memset(p + PORT_FRAME_HEADER_SIZE + size, 0, PORT_FRAME_ALIGN8(size) - size);
}

void port_frame_rest_record_write(void *dst, const struct iovec *iov, size_t n_iov, uint64_t size) {
        uint8_t *p = dst;

        port_frame_header_write(p, PORT_FRAME_CONTINUE, 0, 0, size);
        p += PORT_FRAME_HEADER_SIZE;
        for (size_t i = 0; i < n_iov; i++) {
                memcpy(p, iov[i].iov_base, iov[i].iov_len);
                p += iov[i].iov_len;
        }
        memset(p, 0, PORT_FRAME_ALIGN8(size) - size);
}

void port_frame_partial_record_write(void *dst, const port_frame_assembly *a) {
        uint8_t *p = dst;
        uint64_t received = GUINT64_TO_LE(a->received);

        port_frame_header_write(p, PORT_FRAME_MESSAGE, PORT_FRAME_FLAG_CHUNKED, (uint8_t)a->n_fds, a->size);
        memcpy(p + PORT_FRAME_HEADER_SIZE, &received, 8);
        p += PORT_FRAME_HEADER_SIZE + 8;
        if (a->received > 0)
                memcpy(p, a->buf, a->received);
        memset(p + a->received, 0, PORT_FRAME_ALIGN8(a->received) - a->received);
}

void port_frame_records_free(port_frame_record *records, size_t n) {
        for (size_t i = 0; i < n; i++) {
                if (records[i].value)
                        g_variant_unref(records[i].value);
                if (records[i].bytes)
                        g_bytes_unref(records[i].bytes);
        }
        g_free(records);
}

/* One record at @offset of @bundle (@left bytes after its header). */
static int record_parse(GBytes *bundle, const port_frame_header *h, uint64_t offset, uint64_t left,
                        size_t index, port_frame_record *rec, uint64_t *ret_size, sd_bus_error *error) {
        const uint8_t *data = g_bytes_get_data(bundle, NULL);
        uint64_t size = h->payload_size, received;
        GBytes *payload;
        int r;

        *rec = (port_frame_record){ .n_ports = h->n_ports };

        if (h->type == PORT_FRAME_MESSAGE && h->flags == PORT_FRAME_FLAG_CHUNKED) {
                if (index != 0)
                        return port_frame_bad(error,
                                              "handover record %zu is a partly read message, not the first",
                                              index);
                if (h->n_ports > PORT_FRAME_PORTS_MAX || size <= PORT_FRAME_INLINE_MAX ||
                    size > IPCBUS_PORT_MESSAGE_MAX)
                        return port_frame_bad(error, "handover record %zu is not a chunked message", index);
                if (left < 8)
                        return port_frame_bad(error, "handover ends inside record %zu", index);
                memcpy(&received, data + offset + PORT_FRAME_HEADER_SIZE, 8);
                received = GUINT64_FROM_LE(received);
                if (received >= size || PORT_FRAME_ALIGN8(received) > left - 8)
                        return port_frame_bad(error,
                                              "handover record %zu holds %" PRIu64 " bytes of a %" PRIu64
                                              "-byte message, %" PRIu64 " are left",
                                              index, received, size, left - 8);
                rec->kind = PORT_RECORD_PARTIAL;
                rec->total = size;
                rec->bytes = g_bytes_new_from_bytes(bundle, offset + PORT_FRAME_HEADER_SIZE + 8, received);
                *ret_size = port_frame_partial_record_size(received);
                return 0;
        }

        if (size == 0 || size > left || PORT_FRAME_ALIGN8(size) > left)
                return port_frame_bad(error,
                                      "handover record %zu announces %" PRIu64 " bytes, %" PRIu64 " are left",
                                      index, size, left);
        *ret_size = port_frame_record_size(size);

        if (h->type == PORT_FRAME_CONTINUE && h->flags == 0 && h->n_ports == 0) {
                rec->kind = PORT_RECORD_REST;
                rec->bytes = g_bytes_new_from_bytes(bundle, offset + PORT_FRAME_HEADER_SIZE, size);
                return 0;
        }
        if (h->type != PORT_FRAME_MESSAGE || h->flags != 0 || h->n_ports > PORT_FRAME_PORTS_MAX)
                return port_frame_bad(error, "handover record %zu is not a message", index);

        rec->kind = PORT_RECORD_MESSAGE;
        payload = g_bytes_new_from_bytes(bundle, offset + PORT_FRAME_HEADER_SIZE, size);
        r = port_frame_value_decode(payload, &rec->value, error);
        g_bytes_unref(payload);
        return r;
}

int port_frame_bundle_parse(GBytes *bundle, size_t n_fds, port_frame_record **ret, size_t *ret_n,
                            sd_bus_error *error) {
        gsize size;
        const uint8_t *data = g_bytes_get_data(bundle, &size);
        port_frame_record *records = NULL;
        size_t n = 0, allocated = 0, ports = 0;
        uint64_t offset = 0;
        int r;

        if (size == 0)
                return port_frame_bad(error, "handover without queued messages");

        while (offset < size) {
                port_frame_header h;
                uint64_t record_size = 0;

                if (size - offset < PORT_FRAME_HEADER_SIZE) {
                        r = port_frame_bad(error, "handover ends inside a record header");
                        goto fail;
                }
                r = port_frame_header_read(data + offset, &h, error);
                if (r < 0)
                        goto fail;
                if (h.n_ports > n_fds - ports) {
                        r = port_frame_bad(error, "handover records use more than the %zu descriptors sent",
                                           n_fds);
                        goto fail;
                }

                if (n == allocated) {
                        allocated = allocated ? allocated * 2 : 16;
                        records = g_renew(port_frame_record, records, allocated);
                }
                r = record_parse(bundle, &h, offset, size - offset - PORT_FRAME_HEADER_SIZE, n, &records[n],
                                 &record_size, error);
                if (r < 0)
                        goto fail;
                /* The rest of a message being sent goes before whole ones. */
                if (records[n].kind == PORT_RECORD_REST && n > 0 &&
                    records[n - 1].kind != PORT_RECORD_PARTIAL) {
                        n++;
                        r = port_frame_bad(error, "handover record %zu continues a message, but is not first",
                                           n - 1);
                        goto fail;
                }
                ports += records[n].n_ports;
                n++;
                offset += record_size;
        }

        if (ports != n_fds) {
                r = port_frame_bad(error, "handover sent %zu descriptors, its records use %zu", n_fds, ports);
                goto fail;
        }
        *ret = records;
        *ret_n = n;
        return 0;

fail:
        port_frame_records_free(records, n);
        return r;
}
