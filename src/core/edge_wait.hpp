#pragma once

// A wait for a TCP socket to become readable or writable, for the relay. With
// EGRESS_ASIO_SHORTCUTS (CMake; on by default only for the Boost version the shortcuts were
// written against) it queues itself on asio's epoll registration and costs no syscall to start;
// without, it is asio's public async_wait (docs/performance.md says what the difference is worth).

#if EGRESS_ASIO_SHORTCUTS
#include "core/edge_wait_reactor.hpp"
#else
#include "core/edge_wait_plain.hpp"
#endif
