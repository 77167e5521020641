/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Training throughput of a named architecture (default cnn4): one step =
 * forward of 2B log-mel views, NT-Xent + CE, backward, AdamW. Prints views
 * per second.
 *   bench-train [BATCH_CLIPS] [STEPS] [THREADS] [ARCH] [freeze]
 * THREADS (default 2) goes to clar_train_set_threads, as clar-train does;
 * ARCH is a name of clar-train --arch (cnn4, dsres). With "freeze" the
 * same steps are timed again with the encoder frozen (clar-train
 * --freeze-encoder: eval-mode encoder, heads' backward only) and the ratio
 * of the two is printed, both measured in this one run. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <clar/clar.h>
#include "model-private.h"
#include "nn.h"
#include "bench-util.h"

int
main (int argc, char **argv)
{
  int B = argc > 1 ? atoi (argv[1]) : 32, steps = argc > 2 ? atoi (argv[2]) : 5, K = 10, T = 101;
  int threads = argc > 3 ? atoi (argv[3]) : 2;
  int freeze = argc > 5 && !strcmp (argv[5], "freeze");
  double ms[2] = { 0, 0 };
  clar_net_config c = clar_net_default_config ();
  clar_net *net;
  clar_adam a = clar_adam_default ();
  float *mel, *dz, *dl;
  int *lab;
  double t0 = 0;
  clar_blas_report r;
  c.n_classes = K;
  if (argc > 4 && !(c.architecture = clar_architecture_by_name (argv[4]))) {
    fprintf (stderr, "bench-train: unknown architecture %s\n", argv[4]);
    return 2;
  }
  clar_train_set_threads (threads);
  net = clar_net_new (&c, NULL);
  mel = malloc ((size_t) 2 * B * 64 * T * sizeof (float));
  dz = malloc ((size_t) 2 * B * 64 * sizeof (float));
  dl = malloc ((size_t) 2 * B * K * sizeof (float));
  lab = malloc ((size_t) 2 * B * sizeof (int));
  srand (1);
  for (size_t i = 0; i < (size_t) 2 * B * 64 * T; i++)
    mel[i] = (float) rand () / RAND_MAX * 4 - 8;
  for (int i = 0; i < 2 * B; i++)
    lab[i] = (i % B) % K;
  for (int pass = 0; pass < 1 + freeze; pass++) {
    double dt;
    clar_net_freeze_encoder (net, pass, 0);
    for (int s = 0; s <= steps; s++) {
      const float *z, *lg;
      if (s == 1)
        t0 = bench_now ();   /* step 0 warms up (allocations) */
      clar_net_zero_grad (net);
      clar_net_forward (net, mel, 2 * B, T, 1, NULL, &z, &lg);
      clar_loss_ntxent (z, B, 64, 0.5f, dz);
      clar_loss_ce (lg, 2 * B, K, lab, dl);
      clar_net_backward (net, dz, dl, NULL);
      clar_adam_step (&a, net, 1e-3f);
    }
    dt = bench_now () - t0;
    clar_blas_inspect (&r);
    printf ("clar%s: batch %d clips (%d views), %.1f views/s, %.1f ms/step, BLAS %s x%d threads, %d training threads\n",
        pass ? " (encoder frozen)" : "", B, 2 * B, steps * 2.0 * B / dt, dt / steps * 1e3, r.core_name,
        r.n_threads, threads);
    ms[pass] = dt / steps * 1e3;
  }
  if (freeze)
    printf ("frozen-encoder step / full step: %.2f of the time\n", ms[1] / ms[0]);
  clar_net_free (net);
  free (mel); free (dz); free (dl); free (lab);
  return 0;
}
