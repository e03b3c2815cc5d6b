/*
 * worker.h: one thread that runs jobs in the order they were given, so that
 * the pages' JSON is checked and written while curl receives the next ones.
 * The main thread submits jobs and takes them back, finished, in the same
 * order; the worker calls wake after each job (curl_multi_wakeup, so the
 * main thread's wait for the network ends too).
 */
#ifndef FETCH_WORKER_H
#define FETCH_WORKER_H

#include <pthread.h>
#include <stddef.h>

struct fetch_job {
	void (*fn)(struct fetch_job *); /* runs on the worker */
	void *arg;                      /* for fn */
	int kind;                       /* for the submitter */
	int rc;                         /* set by fn */
};

#define FETCH_WORKER_QUEUE 128 /* the most jobs submitted and not yet taken back */

struct fetch_worker {
	pthread_t t;
	pthread_mutex_t mu;
	pthread_cond_t more; /* a job was submitted, or stop */
	pthread_cond_t done; /* a job finished */
	struct fetch_job *q[FETCH_WORKER_QUEUE];
	size_t head; /* the next to take back */
	size_t run;  /* the next to run: head..run finished, run..tail waiting */
	size_t tail; /* the next free place */
	int stop;
	void (*wake)(void *);
	void *wake_arg;
};

/* Starts the thread (signals blocked in it). Returns 0, or -1 with errno set. */
int fetch_worker_start(struct fetch_worker *w, void (*wake)(void *), void *wake_arg);
/* Stops the thread after the jobs submitted so far; releases w. */
void fetch_worker_stop(struct fetch_worker *w);
/* Queues j (borrowed until it is taken back). The queue must have room. */
void fetch_worker_submit(struct fetch_worker *w, struct fetch_job *j);
/* The oldest finished job not yet taken back, or NULL. */
struct fetch_job *fetch_worker_take(struct fetch_worker *w);
/* Waits until every submitted job has finished; forgets them (none is taken back). */
void fetch_worker_drain(struct fetch_worker *w);

#endif
