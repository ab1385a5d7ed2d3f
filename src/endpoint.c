/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>

#include "endpoint.h"
#include "slot.h"

void endpoint_init(endpoint *ep, const endpoint_ops *ops) {
        ep->ops = ops;
        registry_init(&ep->registry, &ep->log);
}

void endpoint_done(endpoint *ep) {
        /* Nothing is called back from here: outgoing calls end quietly. */
        while (ep->calls.head)
                slot_disconnect(ep->calls.head->data);
        registry_clear(&ep->registry);
        ep->event = sd_event_unref(ep->event);
}

int endpoint_attach_event(endpoint *ep, sd_event *event, int64_t priority) {
        int r;

        if (ep->event)
                return -EBUSY;
        if (event)
                ep->event = sd_event_ref(event);
        else {
                r = sd_event_default(&ep->event);
                if (r < 0)
                        return r;
        }
        ep->priority = priority;
        return 0;
}

int endpoint_run(endpoint *ep) {
        if (!ep->event)
                return -EINVAL;
        return sd_event_loop(ep->event);
}

int endpoint_exit(endpoint *ep, int code) {
        if (!ep->event)
                return -EINVAL;
        return sd_event_exit(ep->event, code);
}
