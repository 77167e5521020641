/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Internal: the one lock around FFTW's planner. FFTW's planner is not
 * thread-safe (FFTW manual, "Thread safety"): every plan creation and
 * destruction in the process, libclar's front end and the trainer's
 * augmentations alike, holds this lock. Executing a plan needs no lock.
 */
#ifndef CLAR_FFTW_LOCK_H
#define CLAR_FFTW_LOCK_H

void clar_fftw_planner_lock (void);
void clar_fftw_planner_unlock (void);

#endif
