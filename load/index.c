/*
 * index.c: what the pass keeps in memory. Everything grows with the number
 * of users, classes and enrolments, nothing with the stream's size, and no
 * ID is held twice:
 *
 *  - classes and users (parents too) by index: one table of 32-bit indexes
 *    hashed by sourcedId, the sourcedId and School Manager id once in an
 *    arena, and a small struct per ref; the state's hash of the user, class
 *    or contact with that sourcedId lives in its ref, so that a record of
 *    the stream whose hash is there costs nothing more;
 *  - enrolments and agent links as 64-bit pairs of those indexes, joined
 *    once the users are known;
 *  - memberships and relationships (most of the state: six of its eight
 *    million rows at a million students) are never held: the join sorts the
 *    pairs by class (parent) and walks the state's rows of that entity once,
 *    in key order, finding each in its class's (parent's) few pairs. A row
 *    with no pair is a pending deletion, put in temp.st_gone.
 *
 * At 1,000,000 students (2.2M users and parents, 5.5M enrolments, 2.3M
 * agent links, a state of 8M rows) that is about 60 bytes a user (24 its
 * ref, 15 its slot, the rest its IDs) and 8 an enrolment or link: 200 MB,
 * where the index of every state row (a hash map of 8.3M keys) took 455;
 * cl-load's peak is 228 MB with SQLite's caches (bench/bench-scale).
 *
 * Only new and changed records go to SQLite (temp.st_rec), to be sorted
 * into the change set's order and written to the state.
 */
#include <stdlib.h>
#include <string.h>

#include "diag.h"
#include "idmap.h"
#include "load.h"

/*
 * The low bits of an old record's value are flags; the rest is its hash
 * (compared without them). SEEN: the stream visited it. RESEND: it is
 * written out as a create whatever its hash: after --reset (meta "resend"),
 * or when a change set that was written but never committed touched it
 * (main.unsure, and the ops of the syncs still pending): the target may or
 * may not hold what that change set said, so the next one says it again.
 */
#define SEEN 1ULL
#define RESEND 2ULL
#define FLAGS (SEEN | RESEND)

/* A ref's state bits: which entity of the state has its sourcedId (old). */
enum { OLD_USER = 1, OLD_CLASS = 2, OLD_CONTACT = 4, USED = 8 };

struct ref {
	uint64_t old; /* the state's hash | SEEN | RESEND (OLD_* set) */
	uint32_t off; /* the sourcedId in the arena */
	union {
		uint32_t sm_off;     /* users: the School Manager id in the arena */
		uint32_t enrolments; /* classes: the stream's enrolments in it */
	};
	uint16_t len, sm_len; /* LONG: the length is in the 4 bytes before the string */
	uint8_t flags, role;  /* LOAD_U_*, enum cl_role */
	uint8_t state;        /* OLD_*, USED: an enrolment or agent link names it */
};

/* A length too long for a ref's 16 bits (no real ID is; the format allows it). */
#define LONG UINT16_MAX

/*
 * sourcedId -> index. A slot is the id's 32-bit hash and index + 1 (0:
 * empty); the key is compared in the arena on a hash match. Three quarters
 * full at most (at 2.2M users: 4M slots, 32 MB; half full took 64 MB).
 */
struct refs {
	uint64_t *slot;
	size_t mask;
	struct ref *v;
	size_t n, cap;
	struct cl_buf arena;
};

/* Lookups made together (pending enrolments, state rows): see refs_prefetch. */
#define BATCH 64

/*
 * An enrolment (class c, user u) or agent link (parent c, student u)
 * waiting for its lookups: its ids in load_index.pbuf.
 */
struct pend {
	uint32_t c, cn, u, un; /* offsets and lengths */
	uint32_t hc, hu;       /* their hashes */
	int what;              /* AGENT, or an enrolment's teacher bit */
};

#define AGENT 2

struct load_index {
	long long old_n[LOAD_NENT], unseen[LOAD_NENT];
	struct refs cls, usr;
	/* the rare ID the state has as a user and as a contact: the contact's value */
	struct cl_idmap *old2;
	struct cl_idmap *unsure; /* entity + id of what temp.st_unsure holds */
	uint64_t resend;         /* RESEND for every old record (--reset), else 0 */
	struct pend wait[BATCH];
	size_t nwait;
	struct cl_buf pbuf;
	uint64_t *enr; /* class << 32 | user << 1 | teacher */
	size_t nenr, capenr;
	uint64_t *pairs; /* parent << 32 | student */
	size_t npairs, cappairs;
	sqlite3_stmt *ins, *gone, *pend;
	struct cl_buf key, f, tmp;
};

static void
refs_init(struct refs *r)
{
	memset(r, 0, sizeof *r);
	r->mask = 1023;
	r->slot = cl_xcalloc(r->mask + 1, sizeof *r->slot);
	cl_buf_init(&r->arena);
	cl_buf_addc(&r->arena, 0);
}

static void
refs_release(struct refs *r)
{
	free(r->slot);
	free(r->v);
	cl_buf_release(&r->arena);
}

/* Copies p (n bytes) into the arena; *len gets n, or LONG with n before the string. */
static uint32_t
arena_add(struct refs *r, const char *p, size_t n, uint16_t *len)
{
	uint32_t off;

	if (r->arena.len + n + 4 >= UINT32_MAX)
		cl_oom();
	if (n >= LONG) {
		uint32_t n32 = (uint32_t)n;

		cl_buf_add(&r->arena, (const char *)&n32, sizeof n32);
	}
	off = (uint32_t)r->arena.len;
	cl_buf_add(&r->arena, p, n);
	*len = n >= LONG ? LONG : (uint16_t)n;
	return off;
}

/* The length of the arena's string at off, whose ref says len. */
static size_t
arena_len(const struct refs *r, uint32_t off, uint16_t len)
{
	uint32_t n32;

	if (len < LONG)
		return len;
	memcpy(&n32, r->arena.p + off - sizeof n32, sizeof n32);
	return n32;
}

static const char *
refs_id(const struct refs *r, uint32_t i, size_t *n)
{
	*n = arena_len(r, r->v[i].off, r->v[i].len);
	return r->arena.p + r->v[i].off;
}

/* The slot of id (hash h): its own, or the empty one it would take. */
static uint64_t *
refs_slot(const struct refs *r, const char *id, size_t n, uint32_t h)
{
	size_t i = h & r->mask;

	for (;; i = (i + 1) & r->mask) {
		uint64_t s = r->slot[i];
		const struct ref *f;

		if (s == 0)
			return &r->slot[i];
		if ((uint32_t)(s >> 32) != h)
			continue;
		f = &r->v[(uint32_t)s - 1];
		if (arena_len(r, f->off, f->len) == n && memcmp(r->arena.p + f->off, id, n) == 0)
			return &r->slot[i];
	}
}

static void
refs_grow(struct refs *r)
{
	uint64_t *old = r->slot;
	size_t oldn = r->mask + 1, i;

	r->mask = oldn * 2 - 1;
	r->slot = cl_xcalloc(r->mask + 1, sizeof *r->slot);
	for (i = 0; i < oldn; i++) {
		size_t j;

		if (!old[i])
			continue;
		for (j = (old[i] >> 32) & r->mask; r->slot[j]; j = (j + 1) & r->mask)
			;
		r->slot[j] = old[i];
	}
	free(old);
}

/* The index of id (hash h), or -1 when it has none. */
static long
refs_find_h(const struct refs *r, const char *id, size_t n, uint32_t h)
{
	uint64_t s = *refs_slot(r, id, n, h);

	return s ? (long)((uint32_t)s - 1) : -1;
}

static long
refs_find(const struct refs *r, const char *id, size_t n)
{
	return refs_find_h(r, id, n, cl_idmap_hash(id, n));
}

/*
 * A lookup is three reads far apart in memory at a million users (its
 * slot, its ref, its sourcedId in the arena), each a cache miss: 25% of an
 * unchanged night's time where at 100,000 users it was 15%. Lookups made
 * in batches (BATCH enrolments, BATCH state rows) fetch all of a batch's
 * slots ahead (stage 0), then the refs those slots name (1), then their
 * sourcedIds (2), each stage a hint the processor acts on while it goes
 * on, before the lookups themselves.
 */
static void
refs_prefetch(const struct refs *r, uint32_t h, int stage)
{
#if defined(__GNUC__)
	const uint64_t *slot = &r->slot[h & r->mask];

	if (stage == 0) {
		__builtin_prefetch(slot);
	} else if (*slot && (uint32_t)(*slot >> 32) == h) {
		const struct ref *f = &r->v[(uint32_t)*slot - 1];

		if (stage == 1)
			__builtin_prefetch(f);
		else
			__builtin_prefetch(r->arena.p + f->off);
	}
#else
	(void)r;
	(void)h;
	(void)stage;
#endif
}

/* The index of id (hash h), added when new. */
static uint32_t
refs_get_h(struct refs *r, const char *id, size_t n, uint32_t h)
{
	uint64_t *s = refs_slot(r, id, n, h);

	if (*s)
		return (uint32_t)*s - 1;
	if (r->n >= UINT32_MAX - 1)
		cl_oom();
	if (r->n == r->cap) {
		r->cap = r->cap ? r->cap * 2 : 1024;
		r->v = cl_xreallocarray(r->v, r->cap, sizeof *r->v);
	}
	memset(&r->v[r->n], 0, sizeof r->v[r->n]);
	r->v[r->n].off = arena_add(r, id, n, &r->v[r->n].len);
	*s = (uint64_t)h << 32 | (uint32_t)(r->n + 1);
	r->n++;
	if (r->n > (r->mask + 1) / 4 * 3)
		refs_grow(r);
	return (uint32_t)(r->n - 1);
}

static uint32_t
refs_get(struct refs *r, const char *id, size_t n)
{
	return refs_get_h(r, id, n, cl_idmap_hash(id, n));
}

static void
old_key(struct cl_buf *k, enum load_ent e, const char *id, size_t n)
{
	cl_buf_reset(k);
	cl_buf_addc(k, (char)('0' + e));
	cl_buf_add(k, id, n);
}

static const uint8_t old_bit[LOAD_NENT] = {
	[LOAD_USER] = OLD_USER, [LOAD_CLASS] = OLD_CLASS, [LOAD_CONTACT] = OLD_CONTACT
};

/*
 * The state's value for (e, id) of a user, class or contact, or NULL when
 * the state has none. A user's id the state also has as a contact keeps
 * the contact's in x->old2.
 */
static uint64_t *
old_of(struct load_index *x, enum load_ent e, const char *id, size_t n)
{
	struct refs *r = e == LOAD_CLASS ? &x->cls : &x->usr;
	long i = refs_find(r, id, n);
	struct ref *f;

	if (i < 0)
		return NULL;
	f = &r->v[i];
	if (!(f->state & old_bit[e]))
		return NULL;
	if (e == LOAD_CONTACT && (f->state & OLD_USER)) {
		old_key(&x->key, e, id, n);
		return cl_idmap_get(x->old2, x->key.p, x->key.len);
	}
	return &f->old;
}

/* A row of the state's users, classes or contacts: its ref holds its hash. */
static void
old_put(struct load_index *x, enum load_ent e, const char *id, size_t n, uint32_t h, uint64_t v)
{
	struct refs *r = e == LOAD_CLASS ? &x->cls : &x->usr;
	uint32_t i = refs_get_h(r, id, n, h); /* may move r->v */
	struct ref *f = &r->v[i];

	if (f->state & (OLD_USER | OLD_CONTACT)) {
		/* rows come in entity order: a user's row is there, this is a contact's */
		old_key(&x->key, e, id, n);
		*cl_idmap_put(x->old2, x->key.p, x->key.len, NULL) = v;
	} else {
		f->old = v;
	}
	f->state |= old_bit[e];
}

/* 1 when (e, id) is in temp.st_unsure (its key in x->key). */
static int
is_unsure(struct load_index *x)
{
	return cl_idmap_count(x->unsure) > 0 && cl_idmap_has(x->unsure, x->key.p, x->key.len);
}

/*
 * temp.st_unsure(entity, id, fields): what change sets that were written
 * but not committed touched (main.unsure: discarded ones; main.pending_ops:
 * the syncs still pending), with the fields the newest of them gave (NULL
 * for a deletion). Each is re-sent (RESEND); one the state does not hold
 * and the stream lacks is deleted (load_join counts it, diff.c writes it).
 */
static int
unsure(struct load *L)
{
	struct load_index *x = L->ix;
	sqlite3_stmt *s;
	uint64_t *v;
	int rc;

	if (load_exec(L, "CREATE TEMP TABLE st_unsure(entity INTEGER, id TEXT, fields TEXT,"
	                 " PRIMARY KEY (entity, id)) WITHOUT ROWID;"
	                 "INSERT INTO temp.st_unsure SELECT entity, id, fields FROM main.unsure"
	                 " UNION ALL SELECT entity, id, fields FROM"
	                 " (SELECT * FROM main.pending_ops ORDER BY sync) WHERE true"
	                 " ON CONFLICT (entity, id) DO UPDATE"
	                 " SET fields = coalesce(excluded.fields, fields)") < 0 ||
	    !(s = load_prepare(L, "SELECT entity, id FROM temp.st_unsure")))
		return -1;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		int e = sqlite3_column_int(s, 0);
		const char *id = (const char *)sqlite3_column_text(s, 1);
		size_t n = (size_t)sqlite3_column_bytes(s, 1);

		if (e < 0 || e >= LOAD_NENT)
			continue;
		if (e == LOAD_MEMBER || e == LOAD_REL) {
			/* looked up as the join walks the state's rows */
			old_key(&x->key, e, id, n);
			cl_idmap_put(x->unsure, x->key.p, x->key.len, NULL);
		} else if ((v = old_of(x, e, id, n))) {
			*v |= RESEND;
		}
	}
	return load_done(L, s, rc, "reading the state");
}

int
load_index_open(struct load *L)
{
	/* users before contacts: old_put keeps the contact of an ID that is both in old2 */
	static const enum load_ent ents[] = { LOAD_USER, LOAD_CLASS, LOAD_CONTACT };
	struct load_index *x = cl_xcalloc(1, sizeof *x);
	uint32_t off[BATCH], len[BATCH], hash[BATCH];
	uint64_t val[BATCH];
	size_t k, j, nrow;
	sqlite3_stmt *s;
	int rc = SQLITE_DONE;

	L->ix = x;
	x->resend = load_meta_int(L, "resend") ? RESEND : 0;
	x->old2 = cl_idmap_new();
	x->unsure = cl_idmap_new();
	refs_init(&x->cls);
	refs_init(&x->usr);
	cl_buf_init(&x->key);
	cl_buf_init(&x->f);
	cl_buf_init(&x->tmp);
	cl_buf_init(&x->pbuf);
	if (load_exec(L, "CREATE TEMP TABLE st_rec(entity INTEGER, id TEXT, hash INTEGER, "
	                 "fields TEXT, resend INTEGER);"
	                 "CREATE TEMP TABLE st_tbd(entity INTEGER, id TEXT,"
	                 " PRIMARY KEY (entity, id)) WITHOUT ROWID;"
	                 "CREATE TEMP TABLE st_gone(entity INTEGER, id TEXT,"
	                 " PRIMARY KEY (entity, id)) WITHOUT ROWID;" LOAD_ST_REJ) < 0 ||
	    !(x->ins = load_prepare(L, "INSERT INTO st_rec VALUES (?1, ?2, ?3, ?4, ?5)")))
		return -1;
	/*
	 * users, classes and contacts (the join reads memberships and
	 * relationships), BATCH rows at a time, their slots prefetched
	 */
	s = load_prepare(L, "SELECT entity, id, hash FROM main.records WHERE entity = ?1");
	if (!s)
		return -1;
	for (k = 0; k < 3; k++) {
		const enum load_ent e = ents[k];
		struct refs *r = e == LOAD_CLASS ? &x->cls : &x->usr;

		sqlite3_reset(s);
		sqlite3_bind_int(s, 1, e);
		do {
			cl_buf_reset(&x->pbuf);
			for (nrow = 0; nrow < BATCH && (rc = sqlite3_step(s)) == SQLITE_ROW;
			     nrow++) {
				const char *id = (const char *)sqlite3_column_text(s, 1);
				size_t n = (size_t)sqlite3_column_bytes(s, 1);

				if (x->pbuf.len + n >= UINT32_MAX)
					cl_oom();
				off[nrow] = (uint32_t)x->pbuf.len;
				len[nrow] = (uint32_t)n;
				hash[nrow] = cl_idmap_hash(id, n);
				val[nrow] =
				        ((uint64_t)sqlite3_column_int64(s, 2) & ~FLAGS) | x->resend;
				cl_buf_add(&x->pbuf, id, n);
				refs_prefetch(r, hash[nrow], 0);
			}
			for (j = 0; j < nrow; j++)
				old_put(x, e, x->pbuf.p + off[j], len[j], hash[j], val[j]);
			x->old_n[e] += (long long)nrow;
		} while (rc == SQLITE_ROW);
		if (rc != SQLITE_DONE)
			break;
	}
	cl_buf_reset(&x->pbuf);
	if (load_done(L, s, rc, "reading the state") < 0)
		return -1;
	return unsure(L);
}

void
load_index_free(struct load *L)
{
	struct load_index *x = L->ix;

	if (!x)
		return;
	sqlite3_finalize(x->ins);
	sqlite3_finalize(x->gone);
	sqlite3_finalize(x->pend);
	cl_idmap_free(x->old2);
	cl_idmap_free(x->unsure);
	refs_release(&x->cls);
	refs_release(&x->usr);
	free(x->enr);
	free(x->pairs);
	cl_buf_release(&x->key);
	cl_buf_release(&x->f);
	cl_buf_release(&x->tmp);
	cl_buf_release(&x->pbuf);
	free(x);
	L->ix = NULL;
}

long long
load_index_old(struct load *L, enum load_ent e)
{
	return L->ix->old_n[e];
}

/*
 * Counts a record of e (fields f, hash h) and stages it unless the state's
 * value v (NULL: none) says it is unchanged; v is marked seen.
 */
static int
stage(struct load *L, enum load_ent e, const char *id, size_t n, const char *f, size_t fn,
      int64_t h, uint64_t *v)
{
	struct load_index *x = L->ix;
	int rc;

	L->tally.ent[e].staged++;
	if (v) {
		*v |= SEEN;
		if (!(*v & RESEND) && (*v & ~FLAGS) == ((uint64_t)h & ~FLAGS))
			return 0;
	}
	sqlite3_bind_int(x->ins, 1, e);
	sqlite3_bind_text(x->ins, 2, id, (int)n, SQLITE_STATIC);
	sqlite3_bind_int64(x->ins, 3, h);
	sqlite3_bind_text(x->ins, 4, f, (int)fn, SQLITE_STATIC);
	sqlite3_bind_int(x->ins, 5, v && (*v & RESEND));
	rc = sqlite3_step(x->ins);
	sqlite3_reset(x->ins);
	if (rc != SQLITE_DONE) {
		load_db_error(L, "staging");
		return -1;
	}
	return 0;
}

int
load_index_record(struct load *L, enum load_ent e, const char *id, size_t n, const char *f,
                  size_t fn)
{
	return stage(L, e, id, n, f, fn, load_hash(f, fn), old_of(L->ix, e, id, n));
}

int
load_index_class(struct load *L, const char *id, size_t n)
{
	struct load_index *x = L->ix;
	uint32_t i;

	i = refs_get(&x->cls, id, n);
	if (x->cls.v[i].flags & LOAD_U_STREAM)
		return 1;
	x->cls.v[i].flags |= LOAD_U_STREAM;
	return 0;
}

int
load_index_user(struct load *L, const char *id, size_t n, int flag, int role, const char *sm,
                size_t smn)
{
	struct load_index *x = L->ix;
	uint32_t i;
	struct ref *r;

	i = refs_get(&x->usr, id, n);
	r = &x->usr.v[i];

	if (r->flags & (LOAD_U_STREAM | LOAD_U_CONTACT))
		return 1;
	r->flags |= (uint8_t)flag;
	r->role = (uint8_t)role;
	if (sm && smn) {
		uint16_t len;
		uint32_t off = arena_add(&x->usr, sm, smn, &len);

		r = &x->usr.v[i];
		r->sm_off = off;
		r->sm_len = len;
		r->flags |= LOAD_U_LINKED;
	}
	return 0;
}

static void
push(uint64_t **v, size_t *n, size_t *cap, uint64_t k)
{
	if (*n == *cap) {
		*cap = *cap ? *cap * 2 : 4096;
		*v = cl_xreallocarray(*v, *cap, sizeof **v);
	}
	(*v)[(*n)++] = k;
}

/* The pending enrolments' lookups, prefetched, and their pairs kept. */
static void
flush(struct load_index *x)
{
	const char *p = x->pbuf.p;
	size_t i;
	int stage;

	if (x->nwait == 0)
		return;
	for (stage = 0; stage < 3; stage++)
		for (i = 0; i < x->nwait; i++) {
			refs_prefetch(x->wait[i].what == AGENT ? &x->usr : &x->cls, x->wait[i].hc,
			              stage);
			refs_prefetch(&x->usr, x->wait[i].hu, stage);
		}
	for (i = 0; i < x->nwait; i++) {
		const struct pend *e = &x->wait[i];
		uint32_t c, u;

		if (e->what == AGENT) {
			c = refs_get_h(&x->usr, p + e->c, e->cn, e->hc);
			u = refs_get_h(&x->usr, p + e->u, e->un, e->hu);
			x->usr.v[c].state |= USED;
			x->usr.v[u].state |= USED;
			push(&x->pairs, &x->npairs, &x->cappairs, (uint64_t)c << 32 | u);
			continue;
		}
		c = refs_get_h(&x->cls, p + e->c, e->cn, e->hc);
		u = refs_get_h(&x->usr, p + e->u, e->un, e->hu);
		if (u >= 1U << 31)
			cl_oom();
		x->usr.v[u].state |= USED;
		x->cls.v[c].enrolments++;
		push(&x->enr, &x->nenr, &x->capenr,
		     (uint64_t)c << 32 | (uint64_t)u << 1 | (uint64_t)e->what);
	}
	x->nwait = 0;
	cl_buf_reset(&x->pbuf);
}

/*
 * Puts a pair of ids in the batch; the lookups wait for the batch to fill
 * (or the join). Nothing before the join needs them done: the refs they
 * create or find are only counted and joined there, and which number a ref
 * gets does not matter.
 */
static void
enqueue(struct load_index *x, const char *c, size_t cn, const char *u, size_t un, int what)
{
	struct pend *e = &x->wait[x->nwait++];

	if (x->pbuf.len + cn + un >= UINT32_MAX)
		cl_oom();
	e->c = (uint32_t)x->pbuf.len;
	e->cn = (uint32_t)cn;
	cl_buf_add(&x->pbuf, c, cn);
	e->u = (uint32_t)x->pbuf.len;
	e->un = (uint32_t)un;
	cl_buf_add(&x->pbuf, u, un);
	e->hc = cl_idmap_hash(c, cn);
	e->hu = cl_idmap_hash(u, un);
	e->what = what;
	if (x->nwait == BATCH)
		flush(x);
}

void
load_index_enrol(struct load *L, const char *cls, size_t cn, const char *usr, size_t un, int role)
{
	enqueue(L->ix, cls, cn, usr, un, role == CL_ROLE_TEACHER);
}

void
load_index_agent(struct load *L, const char *parent, size_t pn, const char *student, size_t sn)
{
	enqueue(L->ix, parent, pn, student, sn, AGENT);
}

static int
u64_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/*
 * Moves v[0..n) into bucket order in place, each element read and written
 * once (American flag sort), bucket ((k >> 32) - lo) >> shift below nb;
 * start[0..nb] gets each bucket's first index plus at (start[nb] = at + n).
 */
static void
flag_pass(uint64_t *v, size_t n, size_t at, uint32_t *start, size_t nb, uint32_t lo, int shift)
{
	uint32_t *next = cl_xcalloc(nb + 1, sizeof *next);
	size_t b, i;

#define BUCKET(k) ((size_t)((uint32_t)((k) >> 32) - lo) >> shift)
	for (i = 0; i < n; i++)
		next[BUCKET(v[i]) + 1]++;
	for (b = 0; b < nb; b++)
		next[b + 1] += next[b];
	for (b = 0; b <= nb; b++)
		start[b] = (uint32_t)(at + next[b]);
	for (b = 0; b < nb; b++) {
		size_t end = start[b + 1] - at;

		while (next[b] < end) {
			uint64_t k = v[next[b]];
			size_t to = BUCKET(k);

			if (to == b) {
				next[b]++;
				continue;
			}
			v[next[b]] = v[next[to]];
			v[next[to]++] = k;
		}
	}
#undef BUCKET
	free(next);
}

/*
 * Sorts v (keys whose top 32 bits are a group below ngroups: a class, a
 * parent) without a second copy of it, and puts each group's first index
 * in start[0..ngroups] (start[ngroups] = n). Two passes of a bucket sort
 * in place: by the group's high bits into at most 1024 buckets, then each
 * bucket by the group itself, so that a pass writes to few places at once
 * (one pass straight into 2.2M parents' places was 10% of an unchanged
 * night at a million students, a cache miss an element); then each group
 * (a class's enrolments, a parent's links: a few dozen) is sorted alone.
 * qsort would have taken a copy of the whole array (glibc's merge sort),
 * the largest thing the join holds.
 */
static void
group_sort(uint64_t *v, size_t n, uint32_t *start, size_t ngroups)
{
	int shift = 0;
	size_t nb, b, g;
	uint32_t *top;

	while ((ngroups >> shift) >= 1024)
		shift++;
	nb = (ngroups >> shift) + 1;
	top = cl_xreallocarray(NULL, nb + 1, sizeof *top);
	flag_pass(v, n, 0, top, nb, 0, shift);
	for (b = 0; b < nb; b++) {
		uint32_t lo = (uint32_t)(b << shift);
		size_t in = ngroups > lo ? ngroups - lo : 0;

		if (in > (size_t)1 << shift)
			in = (size_t)1 << shift;
		if (in > 0)
			flag_pass(v + top[b], top[b + 1] - top[b], top[b], start + lo, in, lo, 0);
	}
	start[ngroups] = (uint32_t)n;
	free(top);
	for (g = 0; g < ngroups; g++)
		if (start[g + 1] - start[g] > 1)
			qsort(v + start[g], start[g + 1] - start[g], sizeof *v, u64_cmp);
}

/* An enrolment's role as a membership reports it (only students' and teachers' are kept). */
static const char *const role_names[] = {
	[CL_ROLE_STUDENT] = "student", [CL_ROLE_TEACHER] = "teacher"
};

/*
 * When the stream is not the whole truth (incomplete, delta), a user it
 * lacks but the state has linked keeps its link for the joins.
 */
static int
from_state(struct load *L, sqlite3_stmt *q, uint32_t i)
{
	struct load_index *x = L->ix;
	struct ref *r = &x->usr.v[i];
	static const char *const paths[] = { "sm_id", "role" };
	struct cl_json_query *jq;
	struct cl_json_result *res;
	size_t n;
	const char *id = refs_id(&x->usr, i, &n);
	int rc;

	r->flags |= LOAD_U_STATE;
	if (!(r->state & OLD_USER))
		return 0;
	sqlite3_bind_text(q, 1, id, (int)n, SQLITE_TRANSIENT);
	rc = sqlite3_step(q);
	if (rc != SQLITE_ROW) {
		sqlite3_reset(q);
		if (rc == SQLITE_DONE)
			return 0;
		load_db_error(L, "reading the state");
		return -1;
	}
	jq = cl_json_query_new(paths, 2);
	res = cl_json_result_new(jq);
	if (cl_json_scan(jq, (const char *)sqlite3_column_text(q, 0),
	                 (size_t)sqlite3_column_bytes(q, 0), res, NULL) == 0) {
		if (cl_json_str_set(cl_json_result_first(res, 0), &x->tmp) == 0 && x->tmp.len) {
			uint16_t len;
			uint32_t off = arena_add(&x->usr, x->tmp.p, x->tmp.len, &len);

			r = &x->usr.v[i];
			r->sm_off = off;
			r->sm_len = len;
			r->flags |= LOAD_U_LINKED;
			r->role = (uint8_t)cl_role_of(cl_json_result_first(res, 1));
		}
	}
	cl_json_result_free(res);
	cl_json_query_free(jq);
	sqlite3_reset(q);
	return 0;
}

static int
class_ok(struct load *L, uint32_t c, int whole)
{
	const struct ref *r = &L->ix->cls.v[c];

	if (r->flags & LOAD_U_STREAM)
		return 1;
	return !whole && (r->state & OLD_CLASS);
}

static void
skip_add(struct load *L, const char *why, long long n)
{
	if (n > 0)
		L->tally.skipped =
		        jv_object_set(L->tally.skipped, jv_string(why), jv_number((double)n));
}

/* The composite id "a\x1fb" of two refs into b. */
static void
composite(struct cl_buf *b, const struct refs *ra, uint32_t a, const struct refs *rb, uint32_t i)
{
	size_t n;
	const char *p = refs_id(ra, a, &n);

	cl_buf_reset(b);
	cl_buf_add(b, p, n);
	cl_buf_addc(b, 0x1f);
	p = refs_id(rb, i, &n);
	cl_buf_add(b, p, n);
}

/*
 * A parent with no relationship to a linked student is not a contact: its
 * record (staged by the pass) is dropped, and a contact of the last sync
 * with its id is left unseen, so deleted. Counted under skipped.
 */
static int
no_kin(struct load *L)
{
	struct load_index *x = L->ix;
	sqlite3_stmt *d = NULL;
	long long n = 0;
	uint64_t *v;
	size_t i, len;
	const char *id;
	int rc = SQLITE_DONE;

	for (i = 0; i < x->usr.n && rc == SQLITE_DONE; i++) {
		if ((x->usr.v[i].flags & (LOAD_U_CONTACT | LOAD_U_KIN)) != LOAD_U_CONTACT)
			continue;
		if (!d && !(d = load_prepare(L, "DELETE FROM temp.st_rec WHERE entity = ?1"
		                                " AND id = ?2")))
			return -1;
		id = refs_id(&x->usr, (uint32_t)i, &len);
		if ((v = old_of(x, LOAD_CONTACT, id, len)))
			*v &= ~SEEN;
		sqlite3_bind_int(d, 1, LOAD_CONTACT);
		sqlite3_bind_text(d, 2, id, (int)len, SQLITE_STATIC);
		rc = sqlite3_step(d);
		sqlite3_reset(d);
		L->tally.ent[LOAD_CONTACT].staged--;
		n++;
	}
	if (load_done(L, d, rc, "staging") < 0)
		return -1;
	skip_add(L, "parent-no-linked-student", n);
	return 0;
}

/* What an uncommitted change set created that the state and the stream lack. */
#define UNSURE_GONE                                         \
	" FROM temp.st_unsure u WHERE u.fields IS NOT NULL" \
	" AND NOT EXISTS (SELECT 1 FROM main.records r"     \
	" WHERE r.entity = u.entity AND r.id = u.id)"       \
	" AND NOT EXISTS (SELECT 1 FROM temp.st_rec n WHERE n.entity = u.entity AND n.id = u.id)"

/* Counts them among the pending deletions. */
static int
unsure_gone(struct load *L)
{
	sqlite3_stmt *s =
	        load_prepare(L, "SELECT u.entity, count(*)" UNSURE_GONE " GROUP BY u.entity");
	int rc;

	if (!s)
		return -1;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		int e = sqlite3_column_int(s, 0);

		if (e >= 0 && e < LOAD_NENT)
			L->ix->unseen[e] += sqlite3_column_int64(s, 1);
	}
	if (load_done(L, s, rc, "reading the state") < 0)
		return -1;
	return 0;
}

/*
 * A membership or relationship the join keeps: the pairs (sorted, one per
 * key, only those that become records), grouped by their first ref (class,
 * parent: start[] from group_sort, redone for what is kept) and a bit each
 * for "the state has it".
 */
struct kept {
	enum load_ent e;
	const struct refs *ra, *rb; /* what the pair's two halves index */
	uint64_t *v;                /* a << 32 | b << shift | bit */
	size_t n;
	int shift;
	uint32_t *start;
	size_t ngroups;
	uint64_t *found;
	int keep; /* the state's rows without a pair go to st_gone (a managed entity, not a delta)
	           */
};

static uint32_t
kept_b(const struct kept *k, size_t i)
{
	return (uint32_t)k->v[i] >> k->shift;
}

/* The fields of kept pair i into x->f and its id into x->tmp. */
static void
kept_build(struct load_index *x, const struct kept *k, size_t i)
{
	const struct ref *u = &x->usr.v[kept_b(k, i)];
	struct load_vals vals = { NULL, NULL, NULL, 0, NULL, NULL, NULL };

	vals.sm_id = x->usr.arena.p + u->sm_off;
	vals.sm_n = arena_len(&x->usr, u->sm_off, u->sm_len);
	if (k->e == LOAD_MEMBER)
		vals.role = role_names[k->v[i] & 1 ? CL_ROLE_TEACHER : CL_ROLE_STUDENT];
	load_build(&x->f, k->e, &vals, &x->key);
	composite(&x->tmp, k->ra, (uint32_t)(k->v[i] >> 32), k->rb, kept_b(k, i));
}

/* Regroups what compaction left (n of them) and clears the found bits. */
static void
kept_index(struct kept *k)
{
	size_t i, g = 0;

	for (i = 0; i < k->n; i++)
		for (; g <= (size_t)(k->v[i] >> 32); g++)
			k->start[g] = (uint32_t)i;
	for (; g <= k->ngroups; g++)
		k->start[g] = (uint32_t)k->n;
	k->found = cl_xcalloc(k->n / 64 + 1, sizeof *k->found);
}

/* Index of (a, b) among the kept pairs, or -1. */
static long
kept_find(const struct kept *k, uint32_t a, uint32_t b)
{
	size_t lo = k->start[a], hi = k->start[a + 1];

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		uint32_t m = kept_b(k, mid);

		if (m == b)
			return (long)mid;
		if (m < b)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

/* A row of the state of k->e the stream does not have: a pending deletion. */
static int
gone(struct load *L, const struct kept *k, const char *id, size_t n)
{
	struct load_index *x = L->ix;
	int rc;

	x->unseen[k->e]++;
	if (!k->keep)
		return 0;
	if (!x->gone && !(x->gone = load_prepare(L, "INSERT INTO temp.st_gone VALUES (?1, ?2)")))
		return -1;
	sqlite3_bind_int(x->gone, 1, k->e);
	sqlite3_bind_text(x->gone, 2, id, (int)n, SQLITE_STATIC);
	rc = sqlite3_step(x->gone);
	sqlite3_reset(x->gone);
	if (rc != SQLITE_DONE) {
		load_db_error(L, "staging");
		return -1;
	}
	return 0;
}

/* A state row in the merge's batch: its id at off in the batch's buffer. */
struct srow {
	uint32_t off, n, an; /* an: where its \x1f is (n: none) */
	uint32_t ha, hb;     /* the hashes of what is before it and after */
	int64_t hash;
};

/* One row of the state of k->e (its id's first part's ref cached in *a, last). */
static int
merge_row(struct load *L, struct kept *k, const char *id, const struct srow *r, struct cl_buf *last,
          long *a)
{
	struct load_index *x = L->ix;
	long b, i = -1;
	uint64_t v;

	x->old_n[k->e]++;
	if (r->an < r->n) {
		if (last->len != r->an + 1 || memcmp(last->p, id, r->an) != 0) {
			cl_buf_reset(last);
			cl_buf_add(last, id, r->an);
			cl_buf_addc(last, 0); /* never empty once set */
			*a = refs_find_h(k->ra, id, r->an, r->ha);
		}
		if (*a >= 0 && (size_t)*a < k->ngroups &&
		    (b = refs_find_h(k->rb, id + r->an + 1, r->n - r->an - 1, r->hb)) >= 0)
			i = kept_find(k, (uint32_t)*a, (uint32_t)b);
	}
	if (i < 0)
		return gone(L, k, id, r->n);
	k->found[i / 64] |= 1ULL << (i % 64);
	v = ((uint64_t)r->hash & ~FLAGS) | x->resend;
	old_key(&x->key, k->e, id, r->n);
	if (is_unsure(x))
		v |= RESEND;
	kept_build(x, k, (size_t)i);
	return stage(L, k->e, x->tmp.p, x->tmp.len, x->f.p, x->f.len, load_hash(x->f.p, x->f.len),
	             &v);
}

/*
 * The state's rows of k->e, in key order ("a\x1fb" sorts by a first: a
 * class's or parent's rows are together), against the kept pairs: a row
 * with its pair is staged when its hash differs, one without is gone;
 * then the pairs no row had are staged as new. Rows are read BATCH at a
 * time, their lookups prefetched (refs_prefetch).
 */
static int
merge(struct load *L, struct kept *k)
{
	struct load_index *x = L->ix;
	sqlite3_stmt *s = load_prepare(L, "SELECT id, hash FROM main.records WHERE entity = ?1"
	                                  " ORDER BY id");
	struct cl_buf last = CL_BUF_INIT, buf = CL_BUF_INIT;
	struct srow rows[BATCH];
	long a = -1;
	size_t j, nrow;
	int rc = SQLITE_ROW, failed = 0, stage_no;

	if (!s)
		return -1;
	sqlite3_bind_int(s, 1, k->e);
	while (!failed && rc == SQLITE_ROW) {
		cl_buf_reset(&buf);
		for (nrow = 0; nrow < BATCH && (rc = sqlite3_step(s)) == SQLITE_ROW; nrow++) {
			const char *id = (const char *)sqlite3_column_text(s, 0);
			size_t n = (size_t)sqlite3_column_bytes(s, 0);
			const char *sep = n ? memchr(id, 0x1f, n) : NULL;
			struct srow *r = &rows[nrow];

			if (buf.len + n >= UINT32_MAX)
				cl_oom();
			r->off = (uint32_t)buf.len;
			r->n = (uint32_t)n;
			r->an = sep ? (uint32_t)(sep - id) : (uint32_t)n;
			r->ha = sep ? cl_idmap_hash(id, r->an) : 0;
			r->hb = sep ? cl_idmap_hash(sep + 1, n - r->an - 1) : 0;
			r->hash = sqlite3_column_int64(s, 1);
			cl_buf_add(&buf, id, n);
		}
		for (stage_no = 0; stage_no < 3; stage_no++)
			for (j = 0; j < nrow; j++)
				if (rows[j].an < rows[j].n) {
					/* a class's (a parent's) rows are together: its first */
					if (j == 0 || rows[j].ha != rows[j - 1].ha)
						refs_prefetch(k->ra, rows[j].ha, stage_no);
					refs_prefetch(k->rb, rows[j].hb, stage_no);
				}
		for (j = 0; j < nrow && !failed; j++)
			failed = merge_row(L, k, buf.p + rows[j].off, &rows[j], &last, &a) < 0;
	}
	cl_buf_release(&last);
	cl_buf_release(&buf);
	if (failed) {
		sqlite3_finalize(s);
		return -1;
	}
	if (load_done(L, s, rc, "reading the state") < 0)
		return -1;
	for (j = 0; j < k->n; j++) {
		if (k->found[j / 64] & (1ULL << (j % 64)))
			continue;
		kept_build(x, k, j);
		if (stage(L, k->e, x->tmp.p, x->tmp.len, x->f.p, x->f.len,
		          load_hash(x->f.p, x->f.len), NULL) < 0)
			return -1;
	}
	return 0;
}

/* Memberships: one per (class, user), a teacher enrolment winning. */
static int
memberships(struct load *L, int whole)
{
	struct load_index *x = L->ix;
	struct kept k = { LOAD_MEMBER, &x->cls, &x->usr, x->enr, 0, 1, NULL, x->cls.n, NULL, 0 };
	long long cls_absent = 0, unmatched = 0, absent = 0;
	size_t i, j;
	int rc;

	k.keep = !L->stream.no_classes && !L->stream.delta;
	k.start = cl_xreallocarray(NULL, k.ngroups + 1, sizeof *k.start);
	group_sort(x->enr, x->nenr, k.start, k.ngroups);
	for (i = 0; i < x->nenr; i = j) {
		uint64_t key = x->enr[i] | 1, teacher = x->enr[i] & 1;
		const struct ref *u = &x->usr.v[(uint32_t)x->enr[i] >> 1];

		for (j = i + 1; j < x->nenr && (x->enr[j] | 1) == key; j++)
			teacher |= x->enr[j] & 1;
		if (!class_ok(L, (uint32_t)(key >> 32), whole))
			cls_absent += (long long)(j - i);
		else if (!(u->flags & LOAD_U_LINKED))
			*(u->flags & LOAD_U_STREAM ? &unmatched : &absent) += (long long)(j - i);
		else
			x->enr[k.n++] = (key & ~1ULL) | teacher;
	}
	skip_add(L, "enrollment-class-absent", cls_absent);
	skip_add(L, "enrollment-user-unmatched", unmatched);
	skip_add(L, "enrollment-user-absent", absent);
	kept_index(&k);
	rc = merge(L, &k);
	free(k.start);
	free(k.found);
	free(x->enr); /* before the relationships' arrays */
	x->enr = NULL;
	return rc;
}

/*
 * Relationships: a contact in the stream and a linked student. One to an
 * unmatched student, or to one the stream lacks, is skipped; a contact
 * left with no relationship is no contact (no_kin).
 */
static int
relationships(struct load *L)
{
	struct load_index *x = L->ix;
	struct kept k = { LOAD_REL, &x->usr, &x->usr, x->pairs, 0, 0, NULL, x->usr.n, NULL, 0 };
	long long unmatched = 0, absent = 0;
	size_t i;
	int rc;

	k.keep = L->stream.has_parents && !L->stream.delta;
	k.start = cl_xreallocarray(NULL, k.ngroups + 1, sizeof *k.start);
	group_sort(x->pairs, x->npairs, k.start, k.ngroups);
	for (i = 0; L->stream.has_parents && i < x->npairs; i++) {
		struct ref *p = &x->usr.v[x->pairs[i] >> 32];
		const struct ref *s = &x->usr.v[(uint32_t)x->pairs[i]];

		if (i > 0 && x->pairs[i - 1] == x->pairs[i])
			continue;
		if (!(p->flags & LOAD_U_CONTACT))
			continue;
		if (!(s->flags & LOAD_U_LINKED)) {
			if (s->flags & LOAD_U_STREAM)
				unmatched += s->role == CL_ROLE_STUDENT;
			else if (!(s->flags & LOAD_U_CONTACT))
				absent++;
			continue;
		}
		if (s->role != CL_ROLE_STUDENT)
			continue;
		p->flags |= LOAD_U_KIN;
		x->pairs[k.n++] = x->pairs[i];
	}
	if (L->stream.has_parents) {
		skip_add(L, "relationship-unmatched-student", unmatched);
		skip_add(L, "relationship-student-absent", absent);
	}
	kept_index(&k);
	rc = merge(L, &k);
	free(k.start);
	free(k.found);
	return rc;
}

int
load_join(struct load *L)
{
	struct load_index *x = L->ix;
	int whole = L->stream.complete && !L->stream.delta;
	size_t i, iter = 0, n;
	const char *k;
	uint64_t v;

	flush(x);
	if (!whole) {
		sqlite3_stmt *q = load_prepare(L, "SELECT fields FROM main.records WHERE entity = 0"
		                                  " AND id = ?1");

		if (!q)
			return -1;
		for (i = 0; i < x->usr.n; i++)
			if ((x->usr.v[i].state & USED) &&
			    !(x->usr.v[i].flags &
			      (LOAD_U_STREAM | LOAD_U_CONTACT | LOAD_U_STATE)) &&
			    from_state(L, q, (uint32_t)i) < 0) {
				sqlite3_finalize(q);
				return -1;
			}
		sqlite3_finalize(q);
	}
	if (memberships(L, whole) < 0 || relationships(L) < 0)
		return -1;
	free(x->enr);
	free(x->pairs);
	x->enr = x->pairs = NULL;
	if (load_exec(L, "CREATE INDEX temp.st_rec_k ON st_rec(entity, id)") < 0 ||
	    (L->stream.has_parents && no_kin(L) < 0))
		return -1;
	/* What the stream did not visit: pending deletions. */
	for (i = 0; i < x->cls.n; i++)
		if ((x->cls.v[i].state & OLD_CLASS) && !(x->cls.v[i].old & SEEN))
			x->unseen[LOAD_CLASS]++;
	for (i = 0; i < x->usr.n; i++)
		if ((x->usr.v[i].state & (OLD_USER | OLD_CONTACT)) && !(x->usr.v[i].old & SEEN))
			x->unseen[x->usr.v[i].state & OLD_USER ? LOAD_USER : LOAD_CONTACT]++;
	while (cl_idmap_next(x->old2, &iter, &k, &n, &v))
		if (!(v & SEEN))
			x->unseen[LOAD_CONTACT]++;
	return unsure_gone(L);
}

int
load_index_pending(struct load *L, enum load_ent e, const char *id, size_t n)
{
	struct load_index *x = L->ix;
	const uint64_t *v;
	int rc;

	if (e != LOAD_MEMBER && e != LOAD_REL) {
		v = old_of(x, e, id, n);
		return v && !(*v & SEEN);
	}
	if (!x->pend && !(x->pend = load_prepare(L, "SELECT 1 FROM temp.st_gone"
	                                            " WHERE entity = ?1 AND id = ?2")))
		return 0;
	sqlite3_bind_int(x->pend, 1, e);
	sqlite3_bind_text(x->pend, 2, id, (int)n, SQLITE_STATIC);
	rc = sqlite3_step(x->pend);
	sqlite3_reset(x->pend);
	return rc == SQLITE_ROW;
}

long
load_index_class_at(struct load *L, const char *id, size_t n)
{
	return refs_find(&L->ix->cls, id, n);
}

long long
load_index_enrolments(struct load *L, size_t i)
{
	return i < L->ix->cls.n ? L->ix->cls.v[i].enrolments : 0;
}

long long
load_index_unseen(struct load *L, enum load_ent e)
{
	return L->ix->unseen[e];
}

/* Stages (e, id) in st_del with statement s; returns the step's result. */
static int
stage_del(sqlite3_stmt *s, enum load_ent e, const char *id, size_t n)
{
	int rc;

	sqlite3_bind_int(s, 1, e);
	sqlite3_bind_text(s, 2, id, (int)n, SQLITE_STATIC);
	rc = sqlite3_step(s);
	sqlite3_reset(s);
	return rc;
}

int
load_index_stage_deletes(struct load *L, enum load_ent e)
{
	struct load_index *x = L->ix;
	const struct refs *r = e == LOAD_CLASS ? &x->cls : &x->usr;
	sqlite3_stmt *s;
	size_t i, iter = 0, n;
	const char *k;
	uint64_t v;
	int rc = SQLITE_DONE;

	if (load_exec(L, LOAD_ST_DEL) < 0)
		return -1;
	if (e == LOAD_MEMBER || e == LOAD_REL) {
		s = load_prepare(L, "INSERT OR IGNORE INTO st_del(entity, id) SELECT entity, id"
		                    " FROM temp.st_gone WHERE entity = ?1");
		if (!s)
			return -1;
		sqlite3_bind_int(s, 1, e);
		rc = sqlite3_step(s);
	} else {
		s = load_prepare(L, "INSERT OR IGNORE INTO st_del(entity, id) VALUES (?1, ?2)");
		if (!s)
			return -1;
		for (i = 0; i < r->n && rc == SQLITE_DONE; i++) {
			const struct ref *f = &r->v[i];

			if (!(f->state & old_bit[e]) ||
			    (e == LOAD_CONTACT && (f->state & OLD_USER)) || (f->old & SEEN))
				continue;
			rc = stage_del(s, e, r->arena.p + f->off, arena_len(r, f->off, f->len));
		}
		while (e == LOAD_CONTACT && rc == SQLITE_DONE &&
		       cl_idmap_next(x->old2, &iter, &k, &n, &v))
			if (!(v & SEEN))
				rc = stage_del(s, e, k + 1, n - 1);
	}
	if (load_done(L, s, rc, "staging") < 0)
		return -1;
	s = load_prepare(
	        L, "INSERT OR IGNORE INTO st_del(entity, id) SELECT u.entity, u.id" UNSURE_GONE
	           " AND u.entity = ?1");
	if (!s)
		return -1;
	sqlite3_bind_int(s, 1, e);
	rc = sqlite3_step(s);
	if (load_done(L, s, rc, "staging") < 0)
		return -1;
	return 0;
}
