/*
 * sfu._native: the packet path of ``forwarding = "packets"`` in C (the native step of the
 * SFU fast path). Optional: built at install by setuptools with the system compiler; without
 * it Duet forwards on the Python fast path (sfu/aiortc_fastpath.py) and says so.
 *
 * What it does. An ``Intake`` replaces ``datagram_received`` on a visitor's aioice
 * protocol. For an SRTP packet whose SSRC has a ``Route`` (set up by Python, see
 * sfu/aiortc_fastpath.py ``native_route``), and whose state is the steady one (in order, no
 * loss being repaired, not a keyframe start, the partner's track forwarding it, nothing
 * waiting for frames ...), it does in C exactly what the Python fast path would do for that
 * packet: unprotect (through pylibsrtp's own libsrtp, by the function pointers Python
 * hands over), parse, update the receiver's statistics, the feed's and track's counters,
 * the loss tracker, the rewriter, the NACK history and the evidence clip's last run (the
 * same Python objects, so the Python path takes over at any packet with the same state),
 * write the partner's header
 * (SSRC, sequence number, timestamp, payload type, mid / abs-send-time / audio-level
 * extensions in aiortc's order and layout), protect with the partner's session and
 * ``sendto`` the partner's nominated address on its socket. Anything else goes to Python:
 * before unprotecting (``slow``: FastPath.data_received, which may queue it for aiortc),
 * or after (``plain``: FastPath.handle_plain with the decrypted packet, as SRTP's replay
 * window forbids unprotecting twice).
 *
 * Every check reads the Python objects for each packet: nothing is cached that Python may
 * change (a switch, a hold, a tap, a loss, a closed transport all make the next packet go
 * to Python), except constants of the negotiation (payload types, extension ids, mid) and
 * the partner's socket and address, which are checked through the nominated pair's
 * identity. A route also expires after ``until`` (monotonic seconds): the next packet then
 * goes to Python, which refreshes what it does once a second and makes a new route.
 *
 * One difference on purpose: a header extension that aiortc fails to parse drops the packet
 * in Python; here only the audio level is read (the one extension forwarded), so another
 * malformed extension value is forwarded with the packet (Duet writes its own extensions
 * for the partner, so nothing of it reaches the partner).
 *
 * Assumes libsrtp 2's ``srtp_protect(ctx, buf, int *len)`` signature (pylibsrtp 1.x binds
 * libsrtp 2.x), CPython 3.11+ and Linux sockets.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

typedef int (*srtp_fn)(void *ctx, void *buffer, int *length);

static srtp_fn srtp_protect_fn = NULL;
static srtp_fn srtp_unprotect_fn = NULL;

#define MAX_PACKET 1500
#define SRTP_TRAILER 148 /* SRTP_MAX_TAG_LEN + SRTP_MAX_MKI_LEN, as pylibsrtp reserves */
#define NTP_UNIX_OFFSET 2208988800.0

/* Interned attribute names. */
static PyObject *s_state, *s_rx_srtp, *s_tx_srtp, *s_rx_bytes, *s_rx_packets, *s_tx_bytes;
static PyObject *s_packets, *s_bytes, *s_frames, *s_enabled, *s_estimator, *s_streams;
static PyObject *s_sinks, *s_keyframe_waiters, *s_clip, *s_assembler, *s_packet_sinks;
static PyObject *s_discontinuities, *s_ssrc_attr, *s_highest, *s_missing;
static PyObject *s_packet_source, *s_held_packets, *s_awaiting, *s_track_disc, *s_ended;
static PyObject *s_base, *s_seq_offset, *s_ts_offset, *s_source_last, *s_last_seq, *s_last_ts;
static PyObject *s_slots, *s_payload_type, *s_reported, *s_packet_count, *s_octet_count;
static PyObject *s_packets_received, *s_base_seq, *s_max_seq, *s_cycles, *s_jitter_q4;
static PyObject *s_last_arrival, *s_last_timestamp, *s_clockrate;
static PyObject *s_runs, *s_span, *s_max_bytes, *s_timestamp;

/* What an evidence clip keeps of a packet forwarded in C (sfu.packet_clip.PacketClip reads
 * these four attributes of the packets in its runs, as of aiortc's RtpPacket). */
static PyTypeObject *ClipPacketType = NULL;
static PyStructSequence_Field clip_packet_fields[] = {
    {"sequence_number", NULL}, {"timestamp", NULL}, {"marker", NULL}, {"payload", NULL}, {NULL}};
static PyStructSequence_Desc clip_packet_desc = {
    "sfu._native.ClipPacket", "A video packet kept for an evidence clip.", clip_packet_fields, 4};

static PyObject *one; /* int 1 */

/* --- small helpers ------------------------------------------------------------------ */

static double mono_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static double wall_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int seq_newer(long a, long b) { /* sfu.rtp_rewrite.seq_newer */
    return a != b && (((a - b) % 65536 + 65536) % 65536) < 32768;
}

static int uint16_gt(long a, long b) { /* aiortc.utils.uint16_gt */
    return (a < b && (b - a) > 0x8000) || (a > b && (a - b) < 0x8000);
}

/* obj.name as a C long; -1 with an exception set on error, *is_none when None. */
static int get_long(PyObject *obj, PyObject *name, long long *out, int *is_none) {
    PyObject *v = PyObject_GetAttr(obj, name);
    if (v == NULL)
        return -1;
    if (v == Py_None) {
        Py_DECREF(v);
        if (is_none) {
            *is_none = 1;
            return 0;
        }
        PyErr_SetString(PyExc_TypeError, "unexpected None");
        return -1;
    }
    if (is_none)
        *is_none = 0;
    *out = PyLong_AsLongLong(v);
    Py_DECREF(v);
    if (*out == -1 && PyErr_Occurred())
        return -1;
    return 0;
}

static int set_long(PyObject *obj, PyObject *name, long long value) {
    PyObject *v = PyLong_FromLongLong(value);
    if (v == NULL)
        return -1;
    int rc = PyObject_SetAttr(obj, name, v);
    Py_DECREF(v);
    return rc;
}

static int add_long(PyObject *obj, PyObject *name, long long delta) {
    long long value;
    if (get_long(obj, name, &value, NULL) < 0)
        return -1;
    return set_long(obj, name, value + delta);
}

/* 1 if obj.name is truthy, 0 if not, -1 on error. */
static int attr_true(PyObject *obj, PyObject *name) {
    PyObject *v = PyObject_GetAttr(obj, name);
    if (v == NULL)
        return -1;
    int rc = PyObject_IsTrue(v);
    Py_DECREF(v);
    return rc;
}

/* 1 if obj.name is `expected` (identity), 0 if not, -1 on error. */
static int attr_is(PyObject *obj, PyObject *name, PyObject *expected) {
    PyObject *v = PyObject_GetAttr(obj, name);
    if (v == NULL)
        return -1;
    int rc = v == expected;
    Py_DECREF(v);
    return rc;
}

/* 1 if obj.name is an empty container (or None when none_ok), 0 if not, -1 on error. */
static int attr_empty(PyObject *obj, PyObject *name, int none_ok) {
    PyObject *v = PyObject_GetAttr(obj, name);
    if (v == NULL)
        return -1;
    int rc;
    if (v == Py_None)
        rc = none_ok;
    else {
        Py_ssize_t n = PyObject_Length(v);
        rc = n < 0 ? -1 : n == 0;
    }
    Py_DECREF(v);
    return rc;
}

/* The VP8 payload descriptor's length (RFC 7741 4.2), or -1 if truncated
 * (sfu.rtp_rewrite._vp8_descriptor_length). */
static Py_ssize_t vp8_descriptor_length(const uint8_t *p, Py_ssize_t n) {
    if (n < 1)
        return -1;
    Py_ssize_t size = 1;
    if (p[0] & 0x80) {
        if (n < 2)
            return -1;
        uint8_t ext = p[1];
        size = 2;
        if (ext & 0x80) {
            if (n <= size)
                return -1;
            size += (p[size] & 0x80) ? 2 : 1;
        }
        if (ext & 0x40)
            size += 1;
        if (ext & 0x30)
            size += 1;
    }
    return size <= n ? size : -1;
}

/* sfu.rtp_rewrite.vp8_keyframe_start */
static int vp8_keyframe_start(const uint8_t *p, Py_ssize_t n) {
    if (n < 1 || !(p[0] & 0x10) || (p[0] & 0x0F) != 0)
        return 0;
    Py_ssize_t size = vp8_descriptor_length(p, n);
    return size >= 0 && size < n && !(p[size] & 0x01);
}

/* --- Route ---------------------------------------------------------------------------- */

typedef struct {
    PyObject_HEAD
    int video;
    long pt_in;
    int al_in;             /* inbound audio-level extension id, 0: none */
    PyObject *receiver;    /* RTCRtpReceiver */
    PyObject *ssrc_table;  /* the DTLS transport's RtpRouter.ssrc_table */
    PyObject *ssrc_key;    /* int: the inbound SSRC */
    PyObject *stats;       /* aiortc StreamStatistics of that SSRC */
    PyObject *feed;        /* sfu.packet_feed.PacketFeed */
    PyObject *sink;        /* the track's bound _on_packet, as stored in feed._packet_sinks */
    PyObject *loss;        /* feed.loss (video) */
    PyObject *track;       /* sfu.packets.PacketTrack */
    PyObject *rewriter;    /* track.rewriter */
    PyObject *history;     /* track.history */
    Py_ssize_t history_size;
    int compact;
    PyObject *out;         /* PacketSender */
    PyObject *sender;      /* RTCRtpSender */
    PyObject *out_dtls;    /* partner's RTCDtlsTransport */
    PyObject *tx_session;  /* partner's pylibsrtp.Session */
    void *tx_ctx;
    PyObject *nominated;   /* partner's aioice Connection._nominated */
    PyObject *pair;        /* the nominated pair of component 1 */
    PyObject *connected;   /* aiortc State.CONNECTED */
    int fd;
    struct sockaddr_storage addr;
    socklen_t addr_len;
    long pt_out;
    uint32_t ssrc_out;
    int mid_id, abs_id, al_out;
    char mid[32];
    int mid_len; /* -1: no mid */
    double until;
    unsigned long long packets;
    unsigned long long send_errors;
} Route;

static int Route_traverse(Route *self, visitproc visit, void *arg) {
    Py_VISIT(self->receiver);
    Py_VISIT(self->ssrc_table);
    Py_VISIT(self->ssrc_key);
    Py_VISIT(self->stats);
    Py_VISIT(self->feed);
    Py_VISIT(self->sink);
    Py_VISIT(self->loss);
    Py_VISIT(self->track);
    Py_VISIT(self->rewriter);
    Py_VISIT(self->history);
    Py_VISIT(self->out);
    Py_VISIT(self->sender);
    Py_VISIT(self->out_dtls);
    Py_VISIT(self->tx_session);
    Py_VISIT(self->nominated);
    Py_VISIT(self->pair);
    Py_VISIT(self->connected);
    return 0;
}

static int Route_clear(Route *self) {
    Py_CLEAR(self->receiver);
    Py_CLEAR(self->ssrc_table);
    Py_CLEAR(self->ssrc_key);
    Py_CLEAR(self->stats);
    Py_CLEAR(self->feed);
    Py_CLEAR(self->sink);
    Py_CLEAR(self->loss);
    Py_CLEAR(self->track);
    Py_CLEAR(self->rewriter);
    Py_CLEAR(self->history);
    Py_CLEAR(self->out);
    Py_CLEAR(self->sender);
    Py_CLEAR(self->out_dtls);
    Py_CLEAR(self->tx_session);
    Py_CLEAR(self->nominated);
    Py_CLEAR(self->pair);
    Py_CLEAR(self->connected);
    return 0;
}

static void Route_dealloc(Route *self) {
    PyObject_GC_UnTrack(self);
    Route_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int parse_addr(const char *host, int port, struct sockaddr_storage *addr, socklen_t *len) {
    memset(addr, 0, sizeof(*addr));
    struct sockaddr_in *a4 = (struct sockaddr_in *)addr;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)addr;
    if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)port);
        *len = sizeof(*a4);
        return 0;
    }
    if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)port);
        *len = sizeof(*a6);
        return 0;
    }
    return -1;
}

static int Route_init(Route *self, PyObject *args, PyObject *kwds) {
    static char *kwlist[] = {
        "video", "pt_in", "audio_level_in", "receiver", "ssrc_table", "ssrc", "stats",
        "feed", "sink", "loss", "track", "rewriter", "history", "history_size", "compact",
        "out", "sender", "out_dtls", "tx_session", "tx_ctx", "nominated", "pair",
        "connected", "fd", "host", "port", "pt_out", "ssrc_out", "mid_id", "mid",
        "abs_send_time_id", "audio_level_out", "until", NULL};
    int video, al_in, compact, fd, port, mid_id, abs_id, al_out;
    long pt_in, pt_out;
    unsigned long long tx_ctx;
    unsigned long ssrc_out;
    Py_ssize_t history_size;
    PyObject *receiver, *ssrc_table, *ssrc, *stats, *feed, *sink, *loss, *track, *rewriter;
    PyObject *history, *out, *sender, *out_dtls, *tx_session, *nominated, *pair, *connected;
    PyObject *mid;
    const char *host;
    double until;
    if (!PyArg_ParseTupleAndKeywords(
            args, kwds, "pliOOOOOOOOOOnpOOOOKOOOisilkiOiid", kwlist, &video, &pt_in, &al_in,
            &receiver, &ssrc_table, &ssrc, &stats, &feed, &sink, &loss, &track, &rewriter,
            &history, &history_size, &compact, &out, &sender, &out_dtls, &tx_session, &tx_ctx,
            &nominated, &pair, &connected, &fd, &host, &port, &pt_out, &ssrc_out, &mid_id,
            &mid, &abs_id, &al_out, &until))
        return -1;
    if (!PyDict_Check(ssrc_table) || !PyDict_Check(nominated)) {
        PyErr_SetString(PyExc_TypeError, "ssrc_table and nominated must be dicts");
        return -1;
    }
    if (history_size <= 0) {
        PyErr_SetString(PyExc_ValueError, "history_size must be positive");
        return -1;
    }
    if (mid == Py_None)
        self->mid_len = -1;
    else {
        Py_ssize_t n;
        const char *m = PyUnicode_AsUTF8AndSize(mid, &n);
        if (m == NULL)
            return -1;
        if (n >= (Py_ssize_t)sizeof(self->mid)) {
            PyErr_SetString(PyExc_ValueError, "mid too long");
            return -1;
        }
        memcpy(self->mid, m, (size_t)n);
        self->mid_len = (int)n;
    }
    if (parse_addr(host, port, &self->addr, &self->addr_len) < 0) {
        PyErr_Format(PyExc_ValueError, "not an IP address: %s", host);
        return -1;
    }
    Route_clear(self);
    self->video = video;
    self->pt_in = pt_in;
    self->al_in = al_in;
    self->compact = compact;
    self->history_size = history_size;
    self->tx_ctx = (void *)(uintptr_t)tx_ctx;
    self->fd = fd;
    self->pt_out = pt_out;
    self->ssrc_out = (uint32_t)ssrc_out;
    self->mid_id = mid_id;
    self->abs_id = abs_id;
    self->al_out = al_out;
    self->until = until;
#define KEEP(field, value) Py_INCREF(value); self->field = value;
    KEEP(receiver, receiver);
    KEEP(ssrc_table, ssrc_table);
    KEEP(ssrc_key, ssrc);
    KEEP(stats, stats);
    KEEP(feed, feed);
    KEEP(sink, sink);
    KEEP(loss, loss);
    KEEP(track, track);
    KEEP(rewriter, rewriter);
    KEEP(history, history);
    KEEP(out, out);
    KEEP(sender, sender);
    KEEP(out_dtls, out_dtls);
    KEEP(tx_session, tx_session);
    KEEP(nominated, nominated);
    KEEP(pair, pair);
    KEEP(connected, connected);
#undef KEEP
    return 0;
}

static PyObject *Route_get_packets(Route *self, void *closure) {
    return PyLong_FromUnsignedLongLong(self->packets);
}

static PyObject *Route_get_send_errors(Route *self, void *closure) {
    return PyLong_FromUnsignedLongLong(self->send_errors);
}

static PyObject *Route_get_track(Route *self, void *closure) {
    PyObject *t = self->track ? self->track : Py_None;
    Py_INCREF(t);
    return t;
}

static PyObject *Route_get_until(Route *self, void *closure) {
    return PyFloat_FromDouble(self->until);
}

static PyGetSetDef Route_getset[] = {
    {"until", (getter)Route_get_until, NULL, "monotonic time the route expires", NULL},
    {"packets", (getter)Route_get_packets, NULL, "packets forwarded by this route", NULL},
    {"send_errors", (getter)Route_get_send_errors, NULL, "sendto failures", NULL},
    {"track", (getter)Route_get_track, NULL, "the partner's track", NULL},
    {NULL}};

static PyTypeObject RouteType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "sfu._native.Route",
    .tp_doc = "One inbound SSRC's steady-state forwarding to a partner's track.",
    .tp_basicsize = sizeof(Route),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Route_init,
    .tp_dealloc = (destructor)Route_dealloc,
    .tp_traverse = (traverseproc)Route_traverse,
    .tp_clear = (inquiry)Route_clear,
    .tp_getset = Route_getset,
};

/* --- Ingress: one visitor's connection -------------------------------------------------- */

typedef struct {
    PyObject_HEAD
    PyObject *dtls;       /* RTCDtlsTransport */
    PyObject *connected;  /* State.CONNECTED */
    PyObject *queue;      /* the aioice connection's asyncio.Queue's deque */
    PyObject *fastpath;   /* sfu.aiortc_fastpath.FastPath */
    PyObject *slow;       /* FastPath.data_received */
    PyObject *plain;      /* FastPath.handle_plain */
    PyObject *pointer;    /* callable: pylibsrtp.Session -> its srtp_t as int */
    PyObject *routes;     /* dict: SSRC -> Route */
    PyObject *rx_session; /* the last _rx_srtp seen */
    void *rx_ctx;
    unsigned long long packets;
} Ingress;

static int Ingress_traverse(Ingress *self, visitproc visit, void *arg) {
    Py_VISIT(self->dtls);
    Py_VISIT(self->connected);
    Py_VISIT(self->queue);
    Py_VISIT(self->fastpath);
    Py_VISIT(self->slow);
    Py_VISIT(self->plain);
    Py_VISIT(self->pointer);
    Py_VISIT(self->routes);
    Py_VISIT(self->rx_session);
    return 0;
}

static int Ingress_clear(Ingress *self) {
    Py_CLEAR(self->dtls);
    Py_CLEAR(self->connected);
    Py_CLEAR(self->queue);
    Py_CLEAR(self->fastpath);
    Py_CLEAR(self->slow);
    Py_CLEAR(self->plain);
    Py_CLEAR(self->pointer);
    Py_CLEAR(self->routes);
    Py_CLEAR(self->rx_session);
    return 0;
}

static void Ingress_dealloc(Ingress *self) {
    PyObject_GC_UnTrack(self);
    Ingress_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int Ingress_init(Ingress *self, PyObject *args, PyObject *kwds) {
    static char *kwlist[] = {"dtls", "connected", "queue", "fastpath", "slow", "plain",
                             "pointer", NULL};
    PyObject *dtls, *connected, *queue, *fastpath, *slow, *plain, *pointer;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "OOOOOOO", kwlist, &dtls, &connected, &queue,
                                     &fastpath, &slow, &plain, &pointer))
        return -1;
    Ingress_clear(self);
    self->routes = PyDict_New();
    if (self->routes == NULL)
        return -1;
#define KEEP(field) Py_INCREF(field); self->field = field;
    KEEP(dtls);
    KEEP(connected);
    KEEP(queue);
    KEEP(fastpath);
    KEEP(slow);
    KEEP(plain);
    KEEP(pointer);
#undef KEEP
    return 0;
}

/* The srtp_t of a pylibsrtp session (through Python's `pointer`, cached by identity). */
static void *rx_context(Ingress *self, PyObject *session) {
    if (session == self->rx_session)
        return self->rx_ctx;
    PyObject *v = PyObject_CallOneArg(self->pointer, session);
    if (v == NULL)
        return NULL;
    unsigned long long p = PyLong_AsUnsignedLongLong(v);
    Py_DECREF(v);
    if (PyErr_Occurred())
        return NULL;
    Py_INCREF(session);
    Py_XSETREF(self->rx_session, session);
    self->rx_ctx = (void *)(uintptr_t)p;
    return self->rx_ctx;
}

/* Whether `route` may take a packet with this SSRC and sequence number before it is
 * decrypted: 1 yes, 0 no (Python takes it), -1 error. */
static int route_ready(Route *r, long seq, double now) {
    int rc;
    if (now >= r->until)
        return 0;
    /* The receiver (hook_receiver_packets' handle). */
    if ((rc = attr_true(r->receiver, s_enabled)) != 1)
        return rc;
    if ((rc = attr_is(r->receiver, s_estimator, Py_None)) != 1)
        return rc;
    PyObject *owner = PyDict_GetItemWithError(r->ssrc_table, r->ssrc_key);
    if (owner != r->receiver)
        return PyErr_Occurred() ? -1 : 0;
    PyObject *streams = PyObject_GetAttr(r->receiver, s_streams);
    if (streams == NULL)
        return -1;
    PyObject *stats = PyDict_Check(streams) ? PyDict_GetItemWithError(streams, r->ssrc_key) : NULL;
    Py_DECREF(streams);
    if (stats != r->stats)
        return PyErr_Occurred() ? -1 : 0;
    /* The feed (PacketFeed.on_packet): nothing but this track wants its packets. */
    if ((rc = attr_empty(r->feed, s_sinks, 0)) != 1)
        return rc;
    if ((rc = attr_empty(r->feed, s_keyframe_waiters, 0)) != 1)
        return rc;
    if ((rc = attr_is(r->feed, s_assembler, Py_None)) != 1)
        return rc;
    PyObject *sinks = PyObject_GetAttr(r->feed, s_packet_sinks);
    if (sinks == NULL)
        return -1;
    rc = PyList_Check(sinks) && PyList_GET_SIZE(sinks) == 1 && PyList_GET_ITEM(sinks, 0) == r->sink;
    Py_DECREF(sinks);
    if (!rc)
        return 0;
    long long value;
    int none;
    if (get_long(r->feed, s_ssrc_attr, &value, &none) < 0)
        return -1;
    if (none || value != PyLong_AsLongLong(r->ssrc_key))
        return 0;
    if (r->video) {
        /* LossTracker.received: the next packet in order, nothing missing. */
        if (get_long(r->loss, s_highest, &value, &none) < 0)
            return -1;
        if (none || ((value + 1) & 0xFFFF) != seq)
            return 0;
        if ((rc = attr_empty(r->loss, s_missing, 0)) != 1)
            return rc;
    }
    /* The track (PacketTrack._on_packet, _send). */
    if ((rc = attr_is(r->track, s_packet_source, r->feed)) != 1)
        return rc;
    if ((rc = attr_true(r->track, s_ended)) != 0)
        return rc < 0 ? -1 : 0;
    if (r->video) {
        if ((rc = attr_is(r->track, s_held_packets, Py_None)) != 1)
            return rc;
        if ((rc = attr_true(r->track, s_awaiting)) != 0)
            return rc < 0 ? -1 : 0;
        long long mine, theirs;
        if (get_long(r->track, s_track_disc, &mine, NULL) < 0 ||
            get_long(r->feed, s_discontinuities, &theirs, NULL) < 0)
            return -1;
        if (mine != theirs)
            return 0;
    }
    if (attr_is(r->rewriter, s_base, Py_None) != 0) /* not mapped yet: Python announces */
        return PyErr_Occurred() ? -1 : 0;
    /* The partner's sender and transport (PacketSender.send, send_rtp_now). */
    if (get_long(r->out, s_payload_type, &value, &none) < 0)
        return -1;
    if (none || value != r->pt_out)
        return 0;
    if ((rc = attr_true(r->out, s_reported)) != 1)
        return rc;
    if ((rc = attr_is(r->out_dtls, s_state, r->connected)) != 1)
        return rc;
    if ((rc = attr_is(r->out_dtls, s_tx_srtp, r->tx_session)) != 1)
        return rc;
    PyObject *pair = PyDict_GetItemWithError(r->nominated, one);
    if (pair != r->pair)
        return PyErr_Occurred() ? -1 : 0;
    return 1;
}

/* Whether PacketClip.add_packet would only append this packet to its last run: 1 yes
 * (*run: that list, a new reference), 0 no (no run yet: Python skips the clip; or a run
 * would be dropped: Python does it), -1 error. */
static int clip_run(PyObject *clip, uint32_t ts, int payload_len, PyObject **run) {
    PyObject *runs = PyObject_GetAttr(clip, s_runs);
    if (runs == NULL)
        return -1;
    Py_ssize_t n = PyObject_Length(runs);
    int rc = 0;
    long long bytes, max_bytes, span, start;
    if (n < 0)
        rc = -1;
    else if (n == 0)
        rc = 0;
    else if (get_long(clip, s_bytes, &bytes, NULL) < 0 ||
             get_long(clip, s_max_bytes, &max_bytes, NULL) < 0 ||
             get_long(clip, s_span, &span, NULL) < 0)
        rc = -1;
    else if (bytes + payload_len > max_bytes)
        rc = 0;
    else {
        rc = 1;
        if (n > 1) { /* the second run's first packet: is the first run older than the span? */
            PyObject *second = PySequence_GetItem(runs, 1);
            PyObject *first = second ? PySequence_GetItem(second, 0) : NULL;
            Py_XDECREF(second);
            if (first == NULL || get_long(first, s_timestamp, &start, NULL) < 0)
                rc = -1;
            else if ((((long long)ts - start) % 4294967296LL + 4294967296LL) % 4294967296LL >= span)
                rc = 0;
            Py_XDECREF(first);
        }
        if (rc == 1) {
            *run = PySequence_GetItem(runs, n - 1);
            if (*run == NULL || !PyList_Check(*run)) {
                Py_XDECREF(*run);
                *run = NULL;
                rc = PyErr_Occurred() ? -1 : 0;
            }
        }
    }
    Py_DECREF(runs);
    return rc;
}

/* Forward one decrypted packet (`buf`, `len`) on `route`: 1 done, 0 Python takes it
 * (nothing changed yet), -1 error. */
static int forward(Route *r, uint8_t *buf, int len, double now) {
    if (len < 12)
        return 0;
    int padding = (buf[0] >> 5) & 1, extension = (buf[0] >> 4) & 1, cc = buf[0] & 0x0F;
    int marker = buf[1] >> 7;
    long pt = buf[1] & 0x7F;
    long seq = (buf[2] << 8) | buf[3];
    uint32_t ts = ((uint32_t)buf[4] << 24) | ((uint32_t)buf[5] << 16) | ((uint32_t)buf[6] << 8) | buf[7];
    if (padding || pt != r->pt_in)
        return 0;
    int pos = 12 + 4 * cc;
    int audio_level = -1;
    if (pos > len)
        return 0;
    if (extension) {
        if (len < pos + 4)
            return 0;
        int profile = (buf[pos] << 8) | buf[pos + 1];
        int xlen = ((buf[pos + 2] << 8) | buf[pos + 3]) * 4;
        pos += 4;
        if (len < pos + xlen)
            return 0;
        const uint8_t *x = buf + pos;
        int i = 0;
        if (profile == 0xBEDE) {
            while (i < xlen) {
                if (x[i] == 0) {
                    i++;
                    continue;
                }
                int id = x[i] >> 4, n = (x[i] & 0x0F) + 1;
                i++;
                if (xlen < i + n)
                    return 0; /* aiortc raises: Python drops it */
                if (r->al_in && id == r->al_in) {
                    if (n != 1)
                        return 0; /* aiortc's unpack("!B") would raise */
                    audio_level = x[i];
                }
                i += n;
            }
        } else if (profile == 0x1000) {
            while (i < xlen) {
                if (x[i] == 0) {
                    i++;
                    continue;
                }
                if (xlen < i + 2)
                    return 0;
                int id = x[i], n = x[i + 1];
                i += 2;
                if (xlen < i + n)
                    return 0;
                if (r->al_in && id == r->al_in) {
                    if (n != 1)
                        return 0; /* aiortc's unpack("!B") would raise */
                    audio_level = x[i];
                }
                i += n;
            }
        }
        pos += xlen;
    }
    const uint8_t *payload = buf + pos;
    int payload_len = len - pos;
    if (payload_len <= 0)
        return 0;
    if (r->video && vp8_keyframe_start(payload, payload_len))
        return 0; /* a keyframe start: counted, PLIs cancelled, clips started in Python */

    /* StreamRewriter.rewrite for a mapped source. */
    long long base, seq_offset, ts_offset, last_seq = -1, source_last = 0;
    int none;
    if (get_long(r->rewriter, s_base, &base, NULL) < 0 ||
        get_long(r->rewriter, s_seq_offset, &seq_offset, NULL) < 0 ||
        get_long(r->rewriter, s_ts_offset, &ts_offset, NULL) < 0 ||
        get_long(r->rewriter, s_last_seq, &last_seq, &none) < 0)
        return -1;
    if (none)
        last_seq = -1;
    if (r->compact) {
        if (get_long(r->rewriter, s_source_last, &source_last, NULL) < 0)
            return -1;
        if (last_seq < 0 || !seq_newer(seq, (long)source_last))
            return 0;
        seq_offset = ((last_seq + 1 - seq) % 65536 + 65536) % 65536;
    } else if (seq != base && !seq_newer(seq, (long)base)) {
        return 0;
    }
    long out_seq = (long)((seq + seq_offset) % 65536);
    uint32_t out_ts = (uint32_t)(((long long)ts + ts_offset) % 4294967296LL);

    PyObject *slots = NULL;
    if (r->video) { /* PacketHistory.get: a second retransmission is not sent again */
        slots = PyObject_GetAttr(r->history, s_slots);
        if (slots == NULL)
            return -1;
        if (!PyList_Check(slots) || PyList_GET_SIZE(slots) != r->history_size) {
            Py_DECREF(slots);
            return 0;
        }
        PyObject *slot = PyList_GET_ITEM(slots, out_seq % r->history_size);
        if (slot != Py_None && PyTuple_Check(slot) && PyTuple_GET_SIZE(slot) == 2) {
            long long held = PyLong_AsLongLong(PyTuple_GET_ITEM(slot, 0));
            if (held == out_seq) {
                Py_DECREF(slots);
                return 0;
            }
        }
    }

    /* PacketClip.add_packet (video, not a keyframe start): appended to the last run, unless
     * that makes the clip drop a run (Python does that). */
    PyObject *run = NULL, *clip = NULL;
    if (r->video) {
        clip = PyObject_GetAttr(r->feed, s_clip);
        if (clip == NULL) {
            Py_XDECREF(slots);
            return -1;
        }
        if (clip != Py_None) {
            int keep = clip_run(clip, ts, payload_len, &run);
            if (keep <= 0) {
                Py_DECREF(clip);
                Py_XDECREF(slots);
                return keep;
            }
        }
    }

    /* The partner's packet: header, extensions in aiortc's order, payload. */
    uint8_t out[MAX_PACKET + SRTP_TRAILER];
    uint8_t ext[64];
    int ext_len = 0, one_byte = 1;
    struct {
        int id;
        int n;
        uint8_t v[32];
    } items[3];
    int count = 0;
    if (r->mid_len >= 0 && r->mid_id) {
        items[count].id = r->mid_id;
        items[count].n = r->mid_len;
        memcpy(items[count].v, r->mid, (size_t)r->mid_len);
        count++;
    }
    if (r->abs_id) {
        double t = wall_now();
        uint32_t ast = (uint32_t)((long long)((t + NTP_UNIX_OFFSET) * 262144.0) & 0xFFFFFF);
        items[count].id = r->abs_id;
        items[count].n = 3;
        items[count].v[0] = (uint8_t)(ast >> 16);
        items[count].v[1] = (uint8_t)(ast >> 8);
        items[count].v[2] = (uint8_t)ast;
        count++;
    }
    if (audio_level >= 0 && r->al_out) {
        items[count].id = r->al_out;
        items[count].n = 1;
        items[count].v[0] = (uint8_t)((audio_level & 0x80) | (audio_level & 0x7F));
        count++;
    }
    for (int i = 0; i < count; i++)
        if (items[i].id > 14 || items[i].n == 0 || items[i].n > 16)
            one_byte = 0;
    for (int i = 0; i < count; i++) {
        if (one_byte) {
            ext[ext_len++] = (uint8_t)((items[i].id << 4) | (items[i].n - 1));
        } else {
            ext[ext_len++] = (uint8_t)items[i].id;
            ext[ext_len++] = (uint8_t)items[i].n;
        }
        memcpy(ext + ext_len, items[i].v, (size_t)items[i].n);
        ext_len += items[i].n;
    }
    while (ext_len % 4)
        ext[ext_len++] = 0;
    int header = 12 + (ext_len ? 4 + ext_len : 0);
    int total = header + payload_len;
    if (total > MAX_PACKET) {
        Py_XDECREF(slots);
        Py_XDECREF(clip);
        Py_XDECREF(run);
        return 0;
    }
    out[0] = (uint8_t)(0x80 | (ext_len ? 0x10 : 0));
    out[1] = (uint8_t)((marker << 7) | r->pt_out);
    out[2] = (uint8_t)(out_seq >> 8);
    out[3] = (uint8_t)out_seq;
    out[4] = (uint8_t)(out_ts >> 24);
    out[5] = (uint8_t)(out_ts >> 16);
    out[6] = (uint8_t)(out_ts >> 8);
    out[7] = (uint8_t)out_ts;
    out[8] = (uint8_t)(r->ssrc_out >> 24);
    out[9] = (uint8_t)(r->ssrc_out >> 16);
    out[10] = (uint8_t)(r->ssrc_out >> 8);
    out[11] = (uint8_t)r->ssrc_out;
    if (ext_len) {
        int profile = one_byte ? 0xBEDE : 0x1000;
        out[12] = (uint8_t)(profile >> 8);
        out[13] = (uint8_t)profile;
        out[14] = (uint8_t)((ext_len / 4) >> 8);
        out[15] = (uint8_t)(ext_len / 4);
        memcpy(out + 16, ext, (size_t)ext_len);
    }
    memcpy(out + header, payload, (size_t)payload_len);

    /* Committed: from here on, what Python would have done for this packet. */
    int failed = 0;
    /* StreamStatistics.add */
    {
        long long received, max_seq, base_seq, cycles, jitter_q4, last_arrival, last_ts;
        int max_none, base_none, la_none, lt_none;
        if (get_long(r->stats, s_packets_received, &received, NULL) < 0 ||
            get_long(r->stats, s_max_seq, &max_seq, &max_none) < 0 ||
            get_long(r->stats, s_base_seq, &base_seq, &base_none) < 0)
            failed = 1;
        if (!failed) {
            int in_order = max_none || uint16_gt(seq, (long)max_seq);
            received += 1;
            failed |= set_long(r->stats, s_packets_received, received) < 0;
            if (base_none)
                failed |= set_long(r->stats, s_base_seq, seq) < 0;
            if (in_order && !failed) {
                long long clockrate;
                failed |= get_long(r->stats, s_clockrate, &clockrate, NULL) < 0;
                long long arrival = (long long)(wall_now() * (double)clockrate);
                if (!max_none && seq < max_seq) {
                    failed |= get_long(r->stats, s_cycles, &cycles, NULL) < 0;
                    failed |= set_long(r->stats, s_cycles, cycles + 65536) < 0;
                }
                failed |= set_long(r->stats, s_max_seq, seq) < 0;
                failed |= get_long(r->stats, s_last_timestamp, &last_ts, &lt_none) < 0;
                if (!failed && (lt_none || (long long)ts != last_ts) && received > 1) {
                    failed |= get_long(r->stats, s_last_arrival, &last_arrival, &la_none) < 0;
                    failed |= get_long(r->stats, s_jitter_q4, &jitter_q4, NULL) < 0;
                    if (!failed && !la_none && !lt_none) {
                        long long diff = (arrival - last_arrival) - ((long long)ts - last_ts);
                        if (diff < 0)
                            diff = -diff;
                        jitter_q4 += diff - ((jitter_q4 + 8) >> 4);
                        failed |= set_long(r->stats, s_jitter_q4, jitter_q4) < 0;
                    } else if (!failed) {
                        PyErr_SetString(PyExc_TypeError, "statistics without a last packet");
                        failed = 1;
                    }
                }
                failed |= set_long(r->stats, s_last_arrival, arrival) < 0;
                failed |= set_long(r->stats, s_last_timestamp, (long long)ts) < 0;
            }
        }
    }
    /* PacketFeed.on_packet */
    failed |= add_long(r->feed, s_packets, 1) < 0;
    failed |= add_long(r->feed, s_bytes, payload_len) < 0;
    if (r->video)
        failed |= set_long(r->loss, s_highest, seq) < 0;
    if (!r->video || marker)
        failed |= add_long(r->feed, s_frames, 1) < 0;
    /* StreamRewriter.rewrite */
    if (r->compact) {
        failed |= set_long(r->rewriter, s_source_last, seq) < 0;
        failed |= set_long(r->rewriter, s_seq_offset, seq_offset) < 0;
    }
    if (last_seq < 0 || seq_newer(out_seq, (long)last_seq)) {
        failed |= set_long(r->rewriter, s_last_seq, out_seq) < 0;
        failed |= set_long(r->rewriter, s_last_ts, (long long)out_ts) < 0;
    }
    /* PacketClip.add_packet */
    if (run != NULL) {
        PyObject *item = PyStructSequence_New(ClipPacketType);
        if (item == NULL)
            failed = 1;
        else {
            PyStructSequence_SetItem(item, 0, PyLong_FromLong(seq));
            PyStructSequence_SetItem(item, 1, PyLong_FromUnsignedLong(ts));
            PyStructSequence_SetItem(item, 2, PyLong_FromLong(marker));
            PyStructSequence_SetItem(item, 3,
                                     PyBytes_FromStringAndSize((const char *)payload, payload_len));
            for (int i = 0; i < 4; i++)
                if (PyStructSequence_GetItem(item, i) == NULL)
                    failed = 1;
            if (!failed)
                failed |= PyList_Append(run, item) < 0;
            Py_DECREF(item);
        }
        failed |= add_long(clip, s_bytes, payload_len) < 0;
    }
    Py_XDECREF(run);
    Py_XDECREF(clip);
    /* PacketHistory.put: the partner's packet, unprotected */
    if (slots != NULL) {
        PyObject *entry = Py_BuildValue("(ly#)", out_seq, (const char *)out, (Py_ssize_t)total);
        if (entry == NULL)
            failed = 1;
        else
            failed |= PyList_SetItem(slots, out_seq % r->history_size, entry) < 0;
        Py_DECREF(slots);
    }
    /* send_rtp_now: protect, sendto */
    int length = total;
    if (srtp_protect_fn(r->tx_ctx, out, &length) != 0) {
        r->send_errors++;
    } else {
        ssize_t sent = sendto(r->fd, out, (size_t)length, 0, (struct sockaddr *)&r->addr, r->addr_len);
        if (sent < 0)
            r->send_errors++;
        failed |= add_long(r->out_dtls, s_tx_bytes, length) < 0;
    }
    /* PacketTrack._send after out.send, PacketSender.send's counts */
    failed |= add_long(r->track, s_packets, 1) < 0;
    if (!r->video || marker)
        failed |= add_long(r->track, s_frames, 1) < 0;
    failed |= add_long(r->sender, s_packet_count, 1) < 0;
    failed |= add_long(r->sender, s_octet_count, payload_len) < 0;
    r->packets++;
    (void)now;
    return failed ? -1 : 1;
}

/* Handle one datagram of this connection. */
static PyObject *Ingress_receive(Ingress *self, PyObject *data, PyObject *component) {
    const uint8_t *p = (const uint8_t *)PyBytes_AS_STRING(data);
    Py_ssize_t n = PyBytes_GET_SIZE(data);
    if (n < 12 || n > MAX_PACKET || (p[1] >= 192 && p[1] <= 208) ||
        srtp_unprotect_fn == NULL)
        goto slow;
    Py_ssize_t queued = PyObject_Length(self->queue);
    if (queued != 0) {
        if (queued < 0)
            return NULL;
        goto slow;
    }
    int rc = attr_is(self->dtls, s_state, self->connected);
    if (rc <= 0) {
        if (rc < 0)
            return NULL;
        goto slow;
    }
    PyObject *ssrc = PyLong_FromUnsignedLong(
        ((unsigned long)p[8] << 24) | ((unsigned long)p[9] << 16) | ((unsigned long)p[10] << 8) | p[11]);
    if (ssrc == NULL)
        return NULL;
    PyObject *route = PyDict_GetItemWithError(self->routes, ssrc);
    Py_DECREF(ssrc);
    if (route == NULL) {
        if (PyErr_Occurred())
            return NULL;
        goto slow;
    }
    Py_INCREF(route);
    double now = mono_now();
    long seq = (p[2] << 8) | p[3];
    rc = route_ready((Route *)route, seq, now);
    if (rc <= 0) {
        Py_DECREF(route);
        if (rc < 0)
            return NULL;
        goto slow;
    }
    /* FastPath.data_received's counts, then unprotect. */
    if (add_long(self->fastpath, s_packets, 1) < 0 || add_long(self->dtls, s_rx_bytes, n) < 0 ||
        add_long(self->dtls, s_rx_packets, 1) < 0) {
        Py_DECREF(route);
        return NULL;
    }
    PyObject *session = PyObject_GetAttr(self->dtls, s_rx_srtp);
    if (session == NULL) {
        Py_DECREF(route);
        return NULL;
    }
    void *ctx = rx_context(self, session);
    Py_DECREF(session);
    if (ctx == NULL) {
        Py_DECREF(route);
        return NULL;
    }
    uint8_t buf[MAX_PACKET + SRTP_TRAILER];
    memcpy(buf, p, (size_t)n);
    int len = (int)n;
    if (srtp_unprotect_fn(ctx, buf, &len) != 0) {
        Py_DECREF(route);
        Py_RETURN_NONE; /* as aiortc: an undecryptable packet is dropped */
    }
    rc = forward((Route *)route, buf, len, now);
    Py_DECREF(route);
    if (rc < 0)
        return NULL;
    if (rc == 1) {
        self->packets++;
        Py_RETURN_NONE;
    }
    PyObject *plain = PyBytes_FromStringAndSize((const char *)buf, len);
    if (plain == NULL)
        return NULL;
    PyObject *result = PyObject_CallOneArg(self->plain, plain);
    Py_DECREF(plain);
    return result;
slow:
    return PyObject_CallFunctionObjArgs(self->slow, data, component, NULL);
}

static PyObject *Ingress_set_route(Ingress *self, PyObject *args) {
    PyObject *ssrc, *route;
    if (!PyArg_ParseTuple(args, "OO", &ssrc, &route))
        return NULL;
    if (route == Py_None) {
        if (PyDict_DelItem(self->routes, ssrc) < 0) {
            if (!PyErr_ExceptionMatches(PyExc_KeyError))
                return NULL;
            PyErr_Clear();
        }
        Py_RETURN_NONE;
    }
    if (!PyObject_TypeCheck(route, &RouteType)) {
        PyErr_SetString(PyExc_TypeError, "route must be a Route");
        return NULL;
    }
    if (PyDict_SetItem(self->routes, ssrc, route) < 0)
        return NULL;
    Py_RETURN_NONE;
}

static PyObject *Ingress_route(Ingress *self, PyObject *ssrc) {
    PyObject *route = PyDict_GetItemWithError(self->routes, ssrc);
    if (route == NULL) {
        if (PyErr_Occurred())
            return NULL;
        Py_RETURN_NONE;
    }
    Py_INCREF(route);
    return route;
}

static PyObject *Ingress_clear_routes(Ingress *self, PyObject *unused) {
    PyDict_Clear(self->routes);
    Py_RETURN_NONE;
}

static PyObject *Ingress_get_packets(Ingress *self, void *closure) {
    return PyLong_FromUnsignedLongLong(self->packets);
}

static PyMethodDef Ingress_methods[] = {
    {"set_route", (PyCFunction)Ingress_set_route, METH_VARARGS,
     "set_route(ssrc, route): forward this inbound SSRC with `route` (None: remove)."},
    {"route", (PyCFunction)Ingress_route, METH_O, "route(ssrc): the Route of an SSRC, or None."},
    {"clear_routes", (PyCFunction)Ingress_clear_routes, METH_NOARGS, "Forget every route."},
    {NULL}};

static PyGetSetDef Ingress_getset[] = {
    {"packets", (getter)Ingress_get_packets, NULL, "RTP packets forwarded in C", NULL},
    {NULL}};

static PyTypeObject IngressType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "sfu._native.Ingress",
    .tp_doc = "One visitor's connection: its routes and the per-datagram entry point.",
    .tp_basicsize = sizeof(Ingress),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Ingress_init,
    .tp_dealloc = (destructor)Ingress_dealloc,
    .tp_traverse = (traverseproc)Ingress_traverse,
    .tp_clear = (inquiry)Ingress_clear,
    .tp_methods = Ingress_methods,
    .tp_getset = Ingress_getset,
};

/* --- Intake: a protocol's datagram_received ------------------------------------------------ */

typedef struct {
    PyObject_HEAD
    PyObject *ingress;
    PyObject *original;
    PyObject *component;
} Intake;

static int Intake_traverse(Intake *self, visitproc visit, void *arg) {
    Py_VISIT(self->ingress);
    Py_VISIT(self->original);
    Py_VISIT(self->component);
    return 0;
}

static int Intake_clear(Intake *self) {
    Py_CLEAR(self->ingress);
    Py_CLEAR(self->original);
    Py_CLEAR(self->component);
    return 0;
}

static void Intake_dealloc(Intake *self) {
    PyObject_GC_UnTrack(self);
    Intake_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int Intake_init(Intake *self, PyObject *args, PyObject *kwds) {
    PyObject *ingress, *original, *component;
    if (!PyArg_ParseTuple(args, "O!OO", &IngressType, &ingress, &original, &component))
        return -1;
    Intake_clear(self);
    Py_INCREF(ingress);
    Py_INCREF(original);
    Py_INCREF(component);
    self->ingress = ingress;
    self->original = original;
    self->component = component;
    return 0;
}

/* datagram_received(data, addr): RTP and RTCP (first byte 128-191, RFC 7983) to the
 * connection, anything else (STUN, DTLS) to aioice's own handler. */
static PyObject *Intake_call(Intake *self, PyObject *args, PyObject *kwds) {
    PyObject *data, *addr;
    if (!PyArg_ParseTuple(args, "OO", &data, &addr))
        return NULL;
    if (PyBytes_Check(data) && PyBytes_GET_SIZE(data) > 0) {
        uint8_t first = (uint8_t)PyBytes_AS_STRING(data)[0];
        if (first > 127 && first < 192) {
            PyObject *result = Ingress_receive((Ingress *)self->ingress, data, self->component);
            if (result == NULL) {
                /* Never let an error reach uvloop (it would close the socket): report it
                 * (sys.unraisablehook: logged, and an error under pytest) and go on. */
                PyErr_WriteUnraisable((PyObject *)self);
                Py_RETURN_NONE;
            }
            return result;
        }
    }
    return PyObject_CallFunctionObjArgs(self->original, data, addr, NULL);
}

static PyTypeObject IntakeType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "sfu._native.Intake",
    .tp_doc = "Intake(ingress, original, component): an aioice protocol's datagram_received.",
    .tp_basicsize = sizeof(Intake),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Intake_init,
    .tp_dealloc = (destructor)Intake_dealloc,
    .tp_traverse = (traverseproc)Intake_traverse,
    .tp_clear = (inquiry)Intake_clear,
    .tp_call = (ternaryfunc)Intake_call,
};

/* --- module ---------------------------------------------------------------------------- */

static PyObject *configure(PyObject *module, PyObject *args) {
    unsigned long long protect, unprotect;
    if (!PyArg_ParseTuple(args, "KK", &protect, &unprotect))
        return NULL;
    if (!protect || !unprotect) {
        PyErr_SetString(PyExc_ValueError, "null SRTP function");
        return NULL;
    }
    srtp_protect_fn = (srtp_fn)(uintptr_t)protect;
    srtp_unprotect_fn = (srtp_fn)(uintptr_t)unprotect;
    Py_RETURN_NONE;
}

static PyObject *keyframe_start(PyObject *module, PyObject *arg) {
    Py_buffer view;
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0)
        return NULL;
    int rc = vp8_keyframe_start((const uint8_t *)view.buf, view.len);
    PyBuffer_Release(&view);
    return PyBool_FromLong(rc);
}

static PyMethodDef module_methods[] = {
    {"configure", configure, METH_VARARGS,
     "configure(protect, unprotect): the addresses of libsrtp's srtp_protect and "
     "srtp_unprotect (pylibsrtp's, so sessions are shared)."},
    {"vp8_keyframe_start", keyframe_start, METH_O,
     "Whether an RTP payload starts a VP8 keyframe (as sfu.rtp_rewrite's)."},
    {NULL}};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, "sfu._native",
    "The packet path in C (see sfu/aiortc_fastpath.py).", -1, module_methods};

#define INTERN(var, text)                                                                   \
    if ((var = PyUnicode_InternFromString(text)) == NULL)                                   \
        return NULL;

PyMODINIT_FUNC PyInit__native(void) {
    INTERN(s_state, "_state");
    INTERN(s_rx_srtp, "_rx_srtp");
    INTERN(s_tx_srtp, "_tx_srtp");
    INTERN(s_rx_bytes, "_RTCDtlsTransport__rx_bytes");
    INTERN(s_rx_packets, "_RTCDtlsTransport__rx_packets");
    INTERN(s_tx_bytes, "_RTCDtlsTransport__tx_bytes");
    INTERN(s_packets, "packets");
    INTERN(s_bytes, "bytes");
    INTERN(s_frames, "frames");
    INTERN(s_enabled, "_enabled");
    INTERN(s_estimator, "_RTCRtpReceiver__remote_bitrate_estimator");
    INTERN(s_streams, "_RTCRtpReceiver__remote_streams");
    INTERN(s_sinks, "_sinks");
    INTERN(s_keyframe_waiters, "_keyframe_waiters");
    INTERN(s_clip, "_clip");
    INTERN(s_assembler, "_assembler");
    INTERN(s_packet_sinks, "_packet_sinks");
    INTERN(s_discontinuities, "discontinuities");
    INTERN(s_ssrc_attr, "_ssrc");
    INTERN(s_highest, "_highest");
    INTERN(s_missing, "_missing");
    INTERN(s_packet_source, "_packet_source");
    INTERN(s_held_packets, "_held_packets");
    INTERN(s_awaiting, "_awaiting_keyframe");
    INTERN(s_track_disc, "_discontinuities");
    INTERN(s_ended, "_MediaStreamTrack__ended");
    INTERN(s_base, "_base");
    INTERN(s_seq_offset, "_seq_offset");
    INTERN(s_ts_offset, "_ts_offset");
    INTERN(s_source_last, "_source_last");
    INTERN(s_last_seq, "_last_seq");
    INTERN(s_last_ts, "_last_ts");
    INTERN(s_slots, "_slots");
    INTERN(s_payload_type, "payload_type");
    INTERN(s_reported, "reported");
    INTERN(s_packet_count, "_RTCRtpSender__packet_count");
    INTERN(s_octet_count, "_RTCRtpSender__octet_count");
    INTERN(s_packets_received, "packets_received");
    INTERN(s_base_seq, "base_seq");
    INTERN(s_max_seq, "max_seq");
    INTERN(s_cycles, "cycles");
    INTERN(s_jitter_q4, "_jitter_q4");
    INTERN(s_last_arrival, "_last_arrival");
    INTERN(s_last_timestamp, "_last_timestamp");
    INTERN(s_clockrate, "_clockrate");
    INTERN(s_runs, "_runs");
    INTERN(s_span, "span");
    INTERN(s_max_bytes, "max_bytes");
    INTERN(s_timestamp, "timestamp");
    ClipPacketType = PyStructSequence_NewType(&clip_packet_desc);
    if (ClipPacketType == NULL)
        return NULL;
    if ((one = PyLong_FromLong(1)) == NULL)
        return NULL;
    if (PyType_Ready(&RouteType) < 0 || PyType_Ready(&IngressType) < 0 ||
        PyType_Ready(&IntakeType) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&module_def);
    if (m == NULL)
        return NULL;
    if (PyModule_AddObjectRef(m, "Route", (PyObject *)&RouteType) < 0 ||
        PyModule_AddObjectRef(m, "Ingress", (PyObject *)&IngressType) < 0 ||
        PyModule_AddObjectRef(m, "Intake", (PyObject *)&IntakeType) < 0 ||
        PyModule_AddObjectRef(m, "ClipPacket", (PyObject *)ClipPacketType) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
