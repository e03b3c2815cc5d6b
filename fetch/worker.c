/* worker.c: one thread running jobs in order (see worker.h). */
#include "worker.h"

#include <assert.h>
#include <errno.h>
#include <signal.h>

static void *
loop(void *arg)
{
	struct fetch_worker *w = arg;
	struct fetch_job *j;

	pthread_mutex_lock(&w->mu);
	for (;;) {
		while (w->run == w->tail && !w->stop)
			pthread_cond_wait(&w->more, &w->mu);
		if (w->run == w->tail)
			break; /* stopped, and nothing left */
		j = w->q[w->run % FETCH_WORKER_QUEUE];
		pthread_mutex_unlock(&w->mu);
		j->fn(j);
		pthread_mutex_lock(&w->mu);
		w->run++;
		pthread_cond_broadcast(&w->done);
		pthread_mutex_unlock(&w->mu);
		w->wake(w->wake_arg);
		pthread_mutex_lock(&w->mu);
	}
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

int
fetch_worker_start(struct fetch_worker *w, void (*wake)(void *), void *wake_arg)
{
	sigset_t all, old;
	int e;

	w->head = w->run = w->tail = 0;
	w->stop = 0;
	w->wake = wake;
	w->wake_arg = wake_arg;
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->more, NULL);
	pthread_cond_init(&w->done, NULL);
	/* signals are the main thread's: it is the one that looks at the flag they set */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	e = pthread_create(&w->t, NULL, loop, w);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (e) {
		pthread_cond_destroy(&w->done);
		pthread_cond_destroy(&w->more);
		pthread_mutex_destroy(&w->mu);
		errno = e;
		return -1;
	}
	return 0;
}

void
fetch_worker_stop(struct fetch_worker *w)
{
	pthread_mutex_lock(&w->mu);
	w->stop = 1;
	pthread_cond_signal(&w->more);
	pthread_mutex_unlock(&w->mu);
	pthread_join(w->t, NULL);
	pthread_cond_destroy(&w->done);
	pthread_cond_destroy(&w->more);
	pthread_mutex_destroy(&w->mu);
}

void
fetch_worker_submit(struct fetch_worker *w, struct fetch_job *j)
{
	pthread_mutex_lock(&w->mu);
	assert(w->tail - w->head < FETCH_WORKER_QUEUE);
	w->q[w->tail++ % FETCH_WORKER_QUEUE] = j;
	pthread_cond_signal(&w->more);
	pthread_mutex_unlock(&w->mu);
}

struct fetch_job *
fetch_worker_take(struct fetch_worker *w)
{
	struct fetch_job *j = NULL;

	pthread_mutex_lock(&w->mu);
	if (w->head < w->run)
		j = w->q[w->head++ % FETCH_WORKER_QUEUE];
	pthread_mutex_unlock(&w->mu);
	return j;
}

void
fetch_worker_drain(struct fetch_worker *w)
{
	pthread_mutex_lock(&w->mu);
	while (w->run < w->tail)
		pthread_cond_wait(&w->done, &w->mu);
	w->head = w->tail;
	pthread_mutex_unlock(&w->mu);
}
