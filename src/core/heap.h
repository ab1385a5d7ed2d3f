/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Giving memory back after a stall.
 *
 * A peer that stops reading makes a queue fill up to its cap (thousands
 * of messages, megabytes); when the queue drains or its peer goes, the
 * messages are freed, but glibc keeps the freed heap mapped: the process
 * would stay at its peak for as long as it lives. Called once when such a
 * stall ends, not per message: trimming walks the whole heap.
 */
void heap_release_after_stall(void);
