/* One tick's listener packets in one call: for each listener, the RTP header (its SSRC,
 * payload type, sequence number, timestamp), the shared Opus payload, SRTP protect with the
 * listener's libsrtp session, and the send on the listener's ICE socket; runs of listeners
 * that share a socket go out in one sendmmsg.
 *
 * Python (media/fanout.py) owns everything else: which listeners are in the group, checking
 * their routes, aiortc's counters. libsrtp is pylibsrtp's own: its srtp_protect comes in as
 * an address, each session as its srtp_t, kept alive by the object handed to add().
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <errno.h>
#include <netdb.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>

#define MAX_PACKET 1500
#define SRTP_TRAILER 144 /* libsrtp's bound on what protect appends */
#define BATCH 64         /* packets staged before a flush */

typedef int (*protect_fn)(void *ctx, void *rtp, int *len);

typedef struct {
    long long id;
    void *srtp;
    int fd;
    struct sockaddr_storage addr;
    socklen_t addrlen;
    uint32_t ssrc, ts0;
    uint16_t seq;
    uint8_t pt, skip;
    unsigned long long packets, octets; /* sent since the last take() */
    PyObject *keep;                     /* whatever keeps srtp and fd alive */
} Entry;

typedef struct {
    PyObject_HEAD
    protect_fn protect;
    Entry *entries;
    Py_ssize_t n, cap;
    unsigned long long refused, failed;
} Group;

/* The batch being staged: packets, where they go, whose they are. One for the process: every
 * call runs under the GIL and flushes before it returns. */
typedef struct {
    unsigned char buf[BATCH][MAX_PACKET + SRTP_TRAILER];
    struct iovec iov[BATCH];
    struct mmsghdr msgs[BATCH];
    Entry *owner[BATCH];
    unsigned size[BATCH]; /* payload bytes (sendmmsg writes msg_len) */
    int staged;
} Batch;

static Batch batch_;

static void flush(Group *g) {
    Batch *b_ = &batch_;
    int i = 0;
    while (i < b_->staged) {
        int fd = b_->owner[i]->fd;
        int j = i + 1;
        while (j < b_->staged && b_->owner[j]->fd == fd) j++;
        int done = 0;
        if (j - i == 1) {
            struct msghdr *h = &b_->msgs[i].msg_hdr;
            done = sendto(fd, h->msg_iov->iov_base, h->msg_iov->iov_len, MSG_DONTWAIT,
                          (struct sockaddr *)h->msg_name, h->msg_namelen) >= 0;
        } else {
            int r = sendmmsg(fd, &b_->msgs[i], (unsigned)(j - i), MSG_DONTWAIT);
            done = r < 0 ? 0 : r;
        }
        for (int k = i; k < j; k++) {
            Entry *e = b_->owner[k];
            if (k - i < done) {
                e->packets++;
                e->octets += b_->size[k];
            } else {
                /* A full socket buffer drops the packet, as live audio should; a closed
                 * socket too until Python notices the route is gone. */
                g->refused++;
            }
        }
        i = j;
    }
    b_->staged = 0;
}

/* Stage one packet for `e`; flushes when the batch is full. */
static int stage(Group *g, Entry *e, const unsigned char *payload, Py_ssize_t size,
                 uint32_t pts) {
    Batch *b_ = &batch_;
    if (size > MAX_PACKET - 12) return -1;
    int k = b_->staged;
    unsigned char *b = b_->buf[k];
    uint32_t ts = e->ts0 + pts, ssrc = e->ssrc;
    uint16_t seq = e->seq;
    b[0] = 0x80;
    b[1] = e->pt & 0x7F;
    b[2] = (unsigned char)(seq >> 8);
    b[3] = (unsigned char)seq;
    b[4] = (unsigned char)(ts >> 24);
    b[5] = (unsigned char)(ts >> 16);
    b[6] = (unsigned char)(ts >> 8);
    b[7] = (unsigned char)ts;
    b[8] = (unsigned char)(ssrc >> 24);
    b[9] = (unsigned char)(ssrc >> 16);
    b[10] = (unsigned char)(ssrc >> 8);
    b[11] = (unsigned char)ssrc;
    memcpy(b + 12, payload, (size_t)size);
    int len = 12 + (int)size;
    /* The index is used up either way: libsrtp refuses to protect one twice. */
    e->seq = (uint16_t)(seq + 1);
    if (g->protect(e->srtp, b, &len) != 0) {
        g->failed++;
        return 0;
    }
    b_->iov[k].iov_base = b;
    b_->iov[k].iov_len = (size_t)len;
    struct msghdr *h = &b_->msgs[k].msg_hdr;
    h->msg_name = &e->addr;
    h->msg_namelen = e->addrlen;
    h->msg_iov = &b_->iov[k];
    h->msg_iovlen = 1;
    h->msg_control = NULL;
    h->msg_controllen = 0;
    h->msg_flags = 0;
    b_->size[k] = (unsigned)size;
    b_->owner[k] = e;
    if (++b_->staged == BATCH) flush(g);
    return 0;
}

static Entry *find(Group *g, long long id) {
    for (Py_ssize_t i = 0; i < g->n; i++)
        if (g->entries[i].id == id) return &g->entries[i];
    PyErr_Format(PyExc_KeyError, "no listener %lld", id);
    return NULL;
}

static int group_init(Group *g, PyObject *args, PyObject *kwds) {
    unsigned long long protect;
    if (!PyArg_ParseTuple(args, "K", &protect)) return -1;
    g->protect = (protect_fn)(uintptr_t)protect;
    return 0;
}

static void group_dealloc(Group *g) {
    for (Py_ssize_t i = 0; i < g->n; i++) Py_XDECREF(g->entries[i].keep);
    PyMem_Free(g->entries);
    Py_TYPE(g)->tp_free((PyObject *)g);
}

/* add(id, srtp, fd, host, port, ssrc, pt, seq, ts0, keep) */
static PyObject *group_add(Group *g, PyObject *args) {
    long long id;
    unsigned long long srtp;
    int fd, port, pt, seq;
    const char *host;
    unsigned long ssrc, ts0;
    PyObject *keep;
    if (!PyArg_ParseTuple(args, "LKisikiikO", &id, &srtp, &fd, &host, &port, &ssrc, &pt, &seq,
                          &ts0, &keep))
        return NULL;
    for (Py_ssize_t i = 0; i < g->n; i++)
        if (g->entries[i].id == id) return PyErr_Format(PyExc_ValueError, "listener %lld twice", id);
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
    hints.ai_socktype = SOCK_DGRAM;
    char service[16];
    snprintf(service, sizeof service, "%d", port);
    int rc = getaddrinfo(host, service, &hints, &res);
    if (rc != 0 || res == NULL) return PyErr_Format(PyExc_ValueError, "address %s: %s", host, gai_strerror(rc));
    if (g->n == g->cap) {
        Py_ssize_t cap = g->cap ? g->cap * 2 : 64;
        Entry *grown = PyMem_Realloc(g->entries, (size_t)cap * sizeof(Entry));
        if (grown == NULL) {
            freeaddrinfo(res);
            return PyErr_NoMemory();
        }
        g->entries = grown;
        g->cap = cap;
    }
    Entry *e = &g->entries[g->n];
    memset(e, 0, sizeof *e);
    memcpy(&e->addr, res->ai_addr, res->ai_addrlen);
    e->addrlen = res->ai_addrlen;
    freeaddrinfo(res);
    e->id = id;
    e->srtp = (void *)(uintptr_t)srtp;
    e->fd = fd;
    e->ssrc = (uint32_t)ssrc;
    e->ts0 = (uint32_t)ts0;
    e->seq = (uint16_t)seq;
    e->pt = (uint8_t)pt;
    Py_INCREF(keep);
    e->keep = keep;
    g->n++;
    Py_RETURN_NONE;
}

/* remove(id) -> next sequence number */
static PyObject *group_remove(Group *g, PyObject *arg) {
    long long id = PyLong_AsLongLong(arg);
    if (id == -1 && PyErr_Occurred()) return NULL;
    Entry *e = find(g, id);
    if (e == NULL) return NULL;
    int seq = e->seq;
    Py_XDECREF(e->keep);
    *e = g->entries[--g->n]; /* the order of listeners does not matter */
    return PyLong_FromLong(seq);
}

/* take(id) -> (next sequence number, packets, payload octets sent since the last take) */
static PyObject *group_take(Group *g, PyObject *arg) {
    long long id = PyLong_AsLongLong(arg);
    if (id == -1 && PyErr_Occurred()) return NULL;
    Entry *e = find(g, id);
    if (e == NULL) return NULL;
    PyObject *out = Py_BuildValue("iKK", (int)e->seq, e->packets, e->octets);
    e->packets = e->octets = 0;
    return out;
}

/* skip(id, flag): leave a listener out of send() (it gets its own packet through send_one) */
static PyObject *group_skip(Group *g, PyObject *args) {
    long long id;
    int flag;
    if (!PyArg_ParseTuple(args, "Lp", &id, &flag)) return NULL;
    Entry *e = find(g, id);
    if (e == NULL) return NULL;
    e->skip = (uint8_t)flag;
    Py_RETURN_NONE;
}

/* send(payload, pts) -> packets handed to the sockets' (every listener not skipped) */
static PyObject *group_send(Group *g, PyObject *args) {
    Py_buffer payload;
    unsigned long pts;
    if (!PyArg_ParseTuple(args, "y*k", &payload, &pts)) return NULL;
    if (payload.len > MAX_PACKET - 12) {
        PyBuffer_Release(&payload);
        return PyErr_Format(PyExc_ValueError, "payload of %zd bytes is too long", payload.len);
    }
    unsigned long long before = g->refused + g->failed;
    Py_ssize_t tried = 0;
    for (Py_ssize_t i = 0; i < g->n; i++) {
        Entry *e = &g->entries[i];
        if (e->skip) continue;
        tried++;
        stage(g, e, payload.buf, payload.len, (uint32_t)pts);
    }
    flush(g);
    PyBuffer_Release(&payload);
    return PyLong_FromSsize_t(tried - (Py_ssize_t)(g->refused + g->failed - before));
}

/* send_one(id, payload, pts) -> True if sent */
static PyObject *group_send_one(Group *g, PyObject *args) {
    long long id;
    Py_buffer payload;
    unsigned long pts;
    if (!PyArg_ParseTuple(args, "Ly*k", &id, &payload, &pts)) return NULL;
    Entry *e = find(g, id);
    if (e == NULL || payload.len > MAX_PACKET - 12) {
        PyBuffer_Release(&payload);
        if (e == NULL) return NULL;
        return PyErr_Format(PyExc_ValueError, "payload of %zd bytes is too long", payload.len);
    }
    unsigned long long before = g->refused + g->failed;
    stage(g, e, payload.buf, payload.len, (uint32_t)pts);
    flush(g);
    PyBuffer_Release(&payload);
    return PyBool_FromLong(g->refused + g->failed == before);
}

static Py_ssize_t group_len(Group *g) { return g->n; }

static PyObject *group_get_refused(Group *g, void *closure) {
    return PyLong_FromUnsignedLongLong(g->refused);
}

static PyObject *group_get_failed(Group *g, void *closure) {
    return PyLong_FromUnsignedLongLong(g->failed);
}

static PyMethodDef group_methods[] = {
    {"add", (PyCFunction)group_add, METH_VARARGS,
     "add(id, srtp_t address, fd, host, port, ssrc, pt, seq, ts0, keep)"},
    {"remove", (PyCFunction)group_remove, METH_O, "remove(id) -> next sequence number"},
    {"take", (PyCFunction)group_take, METH_O,
     "take(id) -> (next sequence number, packets, payload octets) sent since the last take"},
    {"skip", (PyCFunction)group_skip, METH_VARARGS, "skip(id, flag)"},
    {"send", (PyCFunction)group_send, METH_VARARGS, "send(payload, pts) -> packets sent"},
    {"send_one", (PyCFunction)group_send_one, METH_VARARGS,
     "send_one(id, payload, pts) -> True if sent"},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef group_getset[] = {
    {"refused", (getter)group_get_refused, NULL, "packets a socket refused", NULL},
    {"failed", (getter)group_get_failed, NULL, "packets SRTP could not protect", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PySequenceMethods group_as_sequence = {.sq_length = (lenfunc)group_len};

static PyTypeObject GroupType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "media._fanout.Group",
    .tp_basicsize = sizeof(Group),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Listeners of one stream, sent to in one call per packet.",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)group_init,
    .tp_dealloc = (destructor)group_dealloc,
    .tp_methods = group_methods,
    .tp_getset = group_getset,
    .tp_as_sequence = &group_as_sequence,
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "media._fanout",
    "Batched RTP fan-out: header, SRTP protect and send for many listeners in one call.", -1,
    NULL,
};

PyMODINIT_FUNC PyInit__fanout(void) {
    if (PyType_Ready(&GroupType) < 0) return NULL;
    PyObject *m = PyModule_Create(&module);
    if (m == NULL) return NULL;
    Py_INCREF(&GroupType);
    if (PyModule_AddObject(m, "Group", (PyObject *)&GroupType) < 0) {
        Py_DECREF(&GroupType);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
