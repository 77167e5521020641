/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * clar-train: contrastive training of the clar encoder (CLAR: NT-Xent on two
 * augmented log-mel views + a supervised cross-entropy term, trained
 * jointly; or SupCon / NT-Xent / CE alone).
 *
 *   clar-train --data MANIFEST.tsv|DIR --out DIR [options]
 *
 * Every random choice is drawn from generators seeded by (--seed, epoch) for
 * the clip order and (--seed, step, view) for the augmentations, so a run
 * resumed from its checkpoint continues exactly as it would have.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <gst/gst.h>
#include <clar/clar.h>

#include "audio-decode.h"
#include "augment.h"
#include "clar-train-clap.h"
#include "dataset.h"
#include "model-private.h"
#include "nn.h"
#include "threads.h"

typedef struct {
  const char *data, *split, *out, *loss, *aug, *cache, *arch;
  const char *unlabelled[8];
  int n_unlabelled;
  int epochs, batch, threads, ckpt_every, resume, proj;
  long steps;
  float lr, lr_min, wd, tau, ce_weight, label_fraction, max_minutes;
  long warmup;
  uint64_t seed;
  clar_dataset_options dopt;
} options;

static void
usage (FILE *f)
{
  fprintf (f,
      "usage: clar-train --data MANIFEST.tsv|DIR --out DIR [options]\n"
      "  --split NAME           manifest rows to train on (default train)\n"
      "  --unlabelled DIR       add unlabelled clips (repeatable)\n"
      "  --loss hybrid|ntxent|supcon|ce   (default hybrid = NT-Xent + w * CE)\n"
      "  --ce-weight W          weight of the supervised term (default 1)\n"
      "  --temperature T        contrastive temperature (default 0.5)\n"
      "  --label-fraction F     keep labels on a class-stratified fraction (default 1)\n"
      "  --epochs E | --steps S training length (default 30 epochs)\n"
      "  --batch-size B         clips per step, 2 views each (default 64)\n"
      "  --lr LR --lr-min LR    AdamW peak / final learning rate (1e-3, 1e-5)\n"
      "  --warmup STEPS         linear warm-up (default 100)\n"
      "  --weight-decay WD      decoupled weight decay (default 1e-4)\n"
      "  --proj-dim P           projection head size (default 64)\n"
      "  --arch NAME            encoder: cnn4 (default, 45.5 MFLOP per 1 s window) or dsres\n"
      "                         (residual depthwise-separable blocks, 101 MFLOP)\n"
      "  --aug SPEC | --no-aug  e.g. pitch=0.3:2,noise=0.5:5:30,fade=0.3:0.3,mask=0.3:0.2,gain=0.5:6\n"
      "  --seed N --threads N   (default 1, 2)\n"
      "  --checkpoint-every S   steps between checkpoints (default 200)\n"
      "  --resume               continue from DIR/checkpoint.safetensors\n"
      "  --max-minutes M        stop (checkpoint + export) after M minutes\n"
      "  --cache DIR            decoded-audio cache (default DIR/cache)\n"
      CLAR_DATASET_OPTIONS_HELP
      "Writes DIR/model.safetensors, DIR/checkpoint.safetensors, DIR/train-log.tsv.\n"
      "clar-train --clap --init MODEL ...: train a text tower on MODEL's encoder (--clap --help).\n");
}

static double
now (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int
parse (int argc, char **argv, options *o)
{
  memset (o, 0, sizeof *o);
  o->split = "train";
  o->loss = "hybrid";
  o->arch = "cnn4";
  o->epochs = 30;
  o->batch = 64;
  o->threads = 2;
  o->ckpt_every = 200;
  o->proj = 64;
  o->lr = 1e-3f;
  o->lr_min = 1e-5f;
  o->wd = 1e-4f;
  o->tau = 0.5f;
  o->ce_weight = 1.0f;
  o->label_fraction = 1.0f;
  o->warmup = 100;
  o->seed = 1;
  o->dopt = clar_dataset_options_default ();
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    int r = clar_dataset_parse_option (&o->dopt, a, v);
#define OPT(name) (!strcmp (a, name) && v && (i++, 1))
    if (r < 0) return -1;
    if (r > 0) i += r - 1;
    else if (OPT ("--data")) o->data = v;
    else if (OPT ("--split")) o->split = v;
    else if (OPT ("--out")) o->out = v;
    else if (OPT ("--unlabelled")) { if (o->n_unlabelled < 8) o->unlabelled[o->n_unlabelled++] = v; }
    else if (OPT ("--loss")) o->loss = v;
    else if (OPT ("--ce-weight")) o->ce_weight = strtof (v, NULL);
    else if (OPT ("--temperature")) o->tau = strtof (v, NULL);
    else if (OPT ("--label-fraction")) o->label_fraction = strtof (v, NULL);
    else if (OPT ("--epochs")) o->epochs = atoi (v);
    else if (OPT ("--steps")) o->steps = atol (v);
    else if (OPT ("--batch-size")) o->batch = atoi (v);
    else if (OPT ("--lr")) o->lr = strtof (v, NULL);
    else if (OPT ("--lr-min")) o->lr_min = strtof (v, NULL);
    else if (OPT ("--warmup")) o->warmup = atol (v);
    else if (OPT ("--weight-decay")) o->wd = strtof (v, NULL);
    else if (OPT ("--proj-dim")) o->proj = atoi (v);
    else if (OPT ("--arch")) o->arch = v;
    else if (OPT ("--aug")) o->aug = v;
    else if (!strcmp (a, "--no-aug")) o->aug = "none";
    else if (OPT ("--seed")) o->seed = strtoull (v, NULL, 10);
    else if (OPT ("--threads")) o->threads = atoi (v);
    else if (OPT ("--checkpoint-every")) o->ckpt_every = atoi (v);
    else if (!strcmp (a, "--resume")) o->resume = 1;
    else if (OPT ("--max-minutes")) o->max_minutes = strtof (v, NULL);
    else if (OPT ("--cache")) o->cache = v;
    else if (!strcmp (a, "--help") || !strcmp (a, "-h")) { usage (stdout); exit (0); }
    else { fprintf (stderr, "clar-train: unknown or incomplete option %s\n", a); return -1; }
#undef OPT
  }
  if (!o->data || !o->out) { usage (stderr); return -1; }
  if (o->batch < 2 || o->batch > 4096 || o->threads < 1 || o->threads > 256
      || !(o->tau > 0) || !(o->lr > 0) || o->label_fraction < 0 || o->label_fraction > 1
      || o->epochs < 1 || o->steps < 0 || o->proj < 1 || o->ckpt_every < 1) {
    fprintf (stderr, "clar-train: an option is out of range (see --help)\n");
    return -1;
  }
  if (strcmp (o->loss, "hybrid") && strcmp (o->loss, "ntxent") && strcmp (o->loss, "supcon")
      && strcmp (o->loss, "ce")) {
    fprintf (stderr, "clar-train: --loss must be hybrid, ntxent, supcon or ce\n");
    return -1;
  }
  if (!clar_architecture_by_name (o->arch)) {
    fprintf (stderr, "clar-train: --arch must be cnn4 or dsres\n");
    return -1;
  }
  return 0;
}

/* Class-stratified label fraction: keep labels on ceil(F * n_c) clips of each
 * class (at least one), chosen with a seeded shuffle. */
static void
apply_label_fraction (clar_dataset *ds, float frac, uint64_t seed)
{
  size_t *idx = malloc (ds->n_clips * sizeof (size_t));
  if (frac >= 1.0f || !idx) {
    free (idx);
    return;
  }
  for (size_t c = 0; c < ds->n_classes; c++) {
    size_t m = 0, keep;
    clar_rng r = { seed * 7919 + c };
    for (size_t i = 0; i < ds->n_clips; i++)
      if (ds->clips[i].class_id == (int) c)
        idx[m++] = i;
    for (size_t i = m; i > 1; i--) {
      size_t j = clar_rng_next (&r) % i, t = idx[i - 1];
      idx[i - 1] = idx[j];
      idx[j] = t;
    }
    keep = (size_t) ceil (frac * m);
    if (keep < 1 && m) keep = 1;
    for (size_t i = keep; i < m; i++)
      ds->clips[idx[i]].class_id = -1;
  }
  free (idx);
}

int
main (int argc, char **argv)
{
  options o;
  clar_dataset ds;
  clar_net_config cfg = clar_net_default_config ();
  clar_augment_config aug = clar_augment_default ();
  clar_net *net;
  clar_mel *mel, **mels_t = NULL;
  int n_mel_t = 1;
  clar_adam opt = clar_adam_default ();
  clar_error err;
  gchar *ckpt, *model_path, *log_path, *cache, *cmdline;
  size_t W, T, nm, n_labelled = 0, steps_per_epoch, *use = NULL, n_use = 0;
  long total_steps, step;
  float *views, *mels, *dz, *dl;
  int *labels2, *labels1;
  FILE *logf;
  double t_start, t_last = 0, t_step0;
  long step0;

  for (int i = 1; i < argc; i++)
    if (!strcmp (argv[i], "--clap"))
      return clar_train_clap_main (argc, argv);
  if (parse (argc, argv, &o))
    return 2;
  if (o.aug && !strcmp (o.aug, "none"))
    aug = clar_augment_none ();
  else if (o.aug && clar_augment_parse (o.aug, &aug)) {
    fprintf (stderr, "clar-train: bad --aug specification \"%s\"\n", o.aug);
    return 2;
  }
  gst_init (NULL, NULL);
  /* OpenMP over samples and chunks, one OpenBLAS thread (nn.h, "Threading"). */
  clar_train_set_threads (o.threads);
  {
    char warn[512];
    if (clar_blas_warning (warn, sizeof warn))
      fprintf (stderr, "clar-train: warning: %s\n", warn);
  }
  g_mkdir_with_parents (o.out, 0755);
  o.dopt.min_samples = clar_min_clip_samples (cfg.window_samples);
  clar_dataset_init (&ds, &o.dopt);
  if (clar_dataset_list (&ds, o.data, o.split))
    return 1;
  for (int i = 0; i < o.n_unlabelled; i++)
    if (clar_dataset_add_unlabelled (&ds, o.unlabelled[i])) {
      fprintf (stderr, "clar-train: no audio in %s\n", o.unlabelled[i]);
      return 1;
    }
  cache = g_strdup (o.cache ? o.cache : g_build_filename (o.out, "cache", NULL));
  if (clar_dataset_load (&ds, cfg.mel.sample_rate, cache, o.threads))
    return 1;
  clar_dataset_index_classes (&ds, NULL, 0);
  apply_label_fraction (&ds, o.label_fraction, o.seed);
  for (size_t i = 0; i < ds.n_clips; i++)
    n_labelled += ds.clips[i].class_id >= 0;
  fprintf (stderr, "clar-train: %zu clips (%zu labelled) in %zu classes\n", ds.n_clips,
      n_labelled, ds.n_classes);
  if ((!strcmp (o.loss, "ce") || !strcmp (o.loss, "hybrid") || !strcmp (o.loss, "supcon"))
      && ds.n_classes == 0 && strcmp (o.loss, "supcon")) {
    fprintf (stderr, "clar-train: --loss %s needs labels\n", o.loss);
    return 1;
  }
  /* Purely supervised training sees only the labelled clips; the others
   * could only take batch slots. With few labels a batch may then repeat a
   * clip (different augmentations): harmless for cross-entropy, but the
   * contrastive losses need distinct clips, hence the check. */
  use = malloc (ds.n_clips * sizeof (size_t));
  if (!use)
    return 1;
  for (size_t i = 0; i < ds.n_clips; i++)
    if (strcmp (o.loss, "ce") || ds.clips[i].class_id >= 0)
      use[n_use++] = i;
  if (n_use == 0 || (strcmp (o.loss, "ce") && n_use < (size_t) o.batch)) {
    fprintf (stderr, "clar-train: %zu usable clips but --batch-size %d\n", n_use, o.batch);
    return 1;
  }

  cfg.proj_dim = o.proj;
  cfg.architecture = clar_architecture_by_name (o.arch);
  cfg.n_classes = (int) ds.n_classes;
  cfg.class_names = (const char *const *) ds.classes;
  cfg.seed = o.seed;
  net = clar_net_new (&cfg, &err);
  mel = clar_mel_new (&cfg.mel, NULL, &err);
  n_mel_t = clar_train_max_threads ();
  mels_t = calloc ((size_t) n_mel_t, sizeof *mels_t);
  for (int i = 0; mels_t && i < n_mel_t; i++)
    if (!(mels_t[i] = clar_mel_new (&cfg.mel, NULL, &err)))
      mel = NULL;
  if (!net || !mel || !mels_t) {
    fprintf (stderr, "clar-train: %s\n", err.message);
    return 1;
  }
  opt.weight_decay = o.wd;
  W = cfg.window_samples;
  T = clar_mel_n_frames (&cfg.mel, W);
  nm = (size_t) cfg.mel.n_mels;
  steps_per_epoch = n_use / (size_t) o.batch;
  if (steps_per_epoch == 0)
    steps_per_epoch = 1;
  total_steps = o.steps ? o.steps : (long) (o.epochs * steps_per_epoch);
  views = malloc ((size_t) 2 * o.batch * W * sizeof (float));
  mels = malloc ((size_t) 2 * o.batch * nm * T * sizeof (float));
  dz = malloc ((size_t) 2 * o.batch * o.proj * sizeof (float));
  dl = malloc ((size_t) 2 * o.batch * (ds.n_classes ? ds.n_classes : 1) * sizeof (float));
  labels1 = malloc ((size_t) o.batch * sizeof (int));
  labels2 = malloc ((size_t) 2 * o.batch * sizeof (int));
  ckpt = g_build_filename (o.out, "checkpoint.safetensors", NULL);
  model_path = g_build_filename (o.out, "model.safetensors", NULL);
  log_path = g_build_filename (o.out, "train-log.tsv", NULL);
  cmdline = g_strjoinv (" ", argv);

  step = 0;
  if (o.resume) {
    if (clar_net_load_checkpoint (net, &opt, NULL, 0, ckpt, &err) != CLAR_OK) {
      fprintf (stderr, "clar-train: cannot resume: %s\n", err.message);
      return 1;
    }
    step = opt.step;
    fprintf (stderr, "clar-train: resumed at step %ld\n", step);
  }
  logf = fopen (log_path, o.resume ? "a" : "w");
  if (logf && !o.resume)
    fprintf (logf, "step\tepoch\tlr\tloss\tcontrastive\tce\tsamples_per_s\n");
  t_start = t_step0 = now ();
  step0 = step;

  {
    size_t *perm = malloc (ds.n_clips * sizeof (size_t));
    long perm_epoch = -1;
    for (; step < total_steps; step++) {
      long epoch = (long) (step / (long) steps_per_epoch);
      size_t pos = (size_t) (step % (long) steps_per_epoch) * (size_t) o.batch;
      const float *z, *logits;
      double lc = 0, lce = 0, loss;
      float lr;
      int K = (int) ds.n_classes;
      if (epoch != perm_epoch) {
        clar_rng r = { o.seed * 1000003ULL + (uint64_t) epoch };
        for (size_t i = 0; i < n_use; i++) perm[i] = use[i];
        for (size_t i = n_use; i > 1; i--) {
          size_t j = clar_rng_next (&r) % i, t = perm[i - 1];
          perm[i - 1] = perm[j];
          perm[j] = t;
        }
        perm_epoch = epoch;
      }
      /* Views are independent (each has its own seeded generator), so
       * they are prepared in parallel with identical results; each thread
       * has its own front end (a clar_mel belongs to one thread). */
#ifdef _OPENMP
#pragma omp parallel for schedule(dynamic, 4)
#endif
      for (int bv = 0; bv < 2 * o.batch; bv++) {
        int b = bv / 2, v = bv % 2;
        const clar_clip *c = &ds.clips[perm[(pos + (size_t) b) % n_use]];
        clar_rng r = { (o.seed << 32) ^ ((uint64_t) step * 8191 + (uint64_t) (2 * b + v)) };
        float *x = views + ((size_t) v * o.batch + b) * W;
        clar_augment_view (&aug, &r, c->pcm, c->n, x, W);
        clar_mel_compute (mels_t[clar_train_thread_id ()], x, W, mels + ((size_t) v * o.batch + b) * nm * T, T);
      }
      for (int b = 0; b < o.batch; b++) {
        const clar_clip *c = &ds.clips[perm[(pos + (size_t) b) % n_use]];
        labels1[b] = c->class_id;
        labels2[b] = labels2[b + o.batch] = c->class_id;
      }
      clar_net_zero_grad (net);
      if (clar_net_forward (net, mels, 2 * o.batch, (int) T, 1, NULL, &z, &logits) != CLAR_OK) {
        fprintf (stderr, "clar-train: forward failed\n");
        return 1;
      }
      if (!strcmp (o.loss, "ce")) {
        memset (dz, 0, (size_t) 2 * o.batch * o.proj * sizeof (float));
      } else if (!strcmp (o.loss, "supcon")) {
        lc = clar_loss_supcon (z, o.batch, o.proj, o.tau, labels1, dz);
      } else {
        lc = clar_loss_ntxent (z, o.batch, o.proj, o.tau, dz);
      }
      if (K && (!strcmp (o.loss, "hybrid") || !strcmp (o.loss, "ce"))) {
        float wgt = !strcmp (o.loss, "ce") ? 1.0f : o.ce_weight;
        lce = clar_loss_ce (logits, 2 * o.batch, K, labels2, dl);
        for (int i = 0; i < 2 * o.batch * K; i++)
          dl[i] *= wgt;
        loss = lc + wgt * lce;
      } else {
        if (K)
          memset (dl, 0, (size_t) 2 * o.batch * K * sizeof (float));
        loss = lc;
      }
      if (!isfinite (loss)) {
        fprintf (stderr, "clar-train: loss is not finite at step %ld; stopping (last checkpoint kept)\n", step);
        return 1;
      }
      clar_net_backward (net, !strcmp (o.loss, "ce") ? NULL : dz, K ? dl : NULL, NULL);
      lr = clar_lr_schedule (step, o.warmup, total_steps, o.lr, o.lr_min);
      clar_adam_step (&opt, net, lr);
      {
        double t = now (), sps = (step + 1 - step0) * 2.0 * o.batch / (t - t_step0);
        if (logf)
          fprintf (logf, "%ld\t%ld\t%.6g\t%.5f\t%.5f\t%.5f\t%.1f\n", step, epoch, lr, loss, lc, lce, sps);
        if (t - t_last > 5 || step + 1 == total_steps) {
          double eta = (total_steps - step - 1) * (t - t_step0) / (step + 1 - step0);
          fprintf (stderr, "epoch %ld step %ld/%ld loss %.4f (contrastive %.4f, ce %.4f) lr %.2e "
              "%.1f views/s ETA %.0f min\n", epoch, step + 1, total_steps, loss, lc, lce, lr, sps, eta / 60);
          if (logf)
            fflush (logf);
          t_last = t;
        }
      }
      if ((step + 1) % o.ckpt_every == 0 || step + 1 == total_steps
          || (o.max_minutes > 0 && now () - t_start > o.max_minutes * 60)) {
        if (clar_net_save_checkpoint (net, &opt, NULL, 0, ckpt, &err) != CLAR_OK)
          fprintf (stderr, "clar-train: checkpoint failed: %s\n", err.message);
        if (o.max_minutes > 0 && now () - t_start > o.max_minutes * 60) {
          fprintf (stderr, "clar-train: --max-minutes reached at step %ld\n", step + 1);
          step++;
          break;
        }
      }
    }
    free (perm);
    free (use);
  }
  {
    gchar *steps_s = g_strdup_printf ("%ld", step);
    const char *meta[] = {
      "clar.name", "clar-trained",
      "clar.description", "encoder trained by clar-train (CLAR: contrastive + supervised)",
      "clar.training", cmdline,
      "clar.training_steps", steps_s,
      NULL
    };
    if (clar_net_export (net, model_path, meta, &err) != CLAR_OK) {
      fprintf (stderr, "clar-train: export failed: %s\n", err.message);
      return 1;
    }
    g_free (steps_s);
  }
  fprintf (stderr, "clar-train: wrote %s after %ld steps (%.1f min)\n", model_path, step,
      (now () - t_start) / 60);
  if (logf)
    fclose (logf);
  clar_mel_free (mel);
  for (int i = 0; mels_t && i < n_mel_t; i++)
    clar_mel_free (mels_t[i]);
  free (mels_t);
  clar_net_free (net);
  clar_dataset_free (&ds);
  free (views); free (mels); free (dz); free (dl); free (labels1); free (labels2);
  g_free (ckpt); g_free (model_path); g_free (log_path); g_free (cache); g_free (cmdline);
  return 0;
}
