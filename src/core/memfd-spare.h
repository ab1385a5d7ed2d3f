/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stddef.h>

/*
 * memfd_spare_take - a memfd to write @size bytes of a large value into
 *
 * Allocating a memfd's pages is half the cost of filling it (on these
 * machines, about 100 µs of 1 MiB's 160): a thread of the library keeps one
 * memfd with its pages allocated (fallocate()) for the next value, sized
 * after the last one, and makes the next while the value travels. When the
 * spare does not fit, a fresh memfd is returned (the pages are then
 * allocated as they are written).
 *
 * The memfd can take seals (MFD_ALLOW_SEALING), is close-on-exec, at file
 * position 0, and may be larger than @size: the caller truncates it to what
 * it wrote. A forked child never gets the parent's spare.
 *
 * Return: the descriptor, owned by the caller; -errno.
 */
int memfd_spare_take(size_t size);
