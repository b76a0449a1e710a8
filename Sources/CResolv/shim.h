// The system resolver (glibc's libresolv), with functions for the ns_msg/ns_rr macros
// that Swift cannot import.
#ifndef SALVO_CRESOLV_SHIM_H
#define SALVO_CRESOLV_SHIM_H

#include <sys/types.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <resolv.h>
#include <netdb.h>
#include <string.h>

static inline int salvo_ns_msg_count(const ns_msg *msg, ns_sect section) { return ns_msg_count(*msg, section); }
static inline int salvo_ns_msg_rcode(const ns_msg *msg) { return ns_msg_getflag(*msg, ns_f_rcode); }
static inline const unsigned char *salvo_ns_msg_base(const ns_msg *msg) { return ns_msg_base(*msg); }
static inline const unsigned char *salvo_ns_msg_end(const ns_msg *msg) { return ns_msg_end(*msg); }
static inline int salvo_ns_rr_type(const ns_rr *rr) { return ns_rr_type(*rr); }
static inline unsigned int salvo_ns_rr_ttl(const ns_rr *rr) { return ns_rr_ttl(*rr); }
static inline int salvo_ns_rr_rdlen(const ns_rr *rr) { return ns_rr_rdlen(*rr); }
static inline const unsigned char *salvo_ns_rr_rdata(const ns_rr *rr) { return ns_rr_rdata(*rr); }

/// Points a resolver state at one IPv4 name server and port (dns.server).
static inline void salvo_res_set_server(res_state state, in_addr_t address, unsigned short port) {
    memset(&state->nsaddr_list[0], 0, sizeof(state->nsaddr_list[0]));
    state->nsaddr_list[0].sin_family = AF_INET;
    state->nsaddr_list[0].sin_addr.s_addr = address;
    state->nsaddr_list[0].sin_port = htons(port);
    state->nscount = 1;
}

static inline void salvo_res_set_timeout(res_state state, int seconds, int attempts) {
    state->retrans = seconds;
    state->retry = attempts;
}

static inline int salvo_res_ninit(res_state state) { return res_ninit(state); }
static inline void salvo_res_nclose(res_state state) { res_nclose(state); }

static inline int salvo_res_h_errno(res_state state) { return state->res_h_errno; }

#endif
