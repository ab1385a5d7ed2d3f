/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <malloc.h>

#include "heap.h"

void heap_release_after_stall(void) {
#if defined(__GLIBC__)
        /* Returns the free pages at the top of the heap and, since glibc
         * 2.8, those inside it (MADV_DONTNEED): the peak goes back. */
        (void)malloc_trim(0);
#endif
}
