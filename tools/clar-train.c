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
#include <signal.h>
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
  const char *init, *val_split, *name, *description, *train_labels, *fmix_exempt;
  int val_every;
  const char *unlabelled[8];
  int n_unlabelled;
  int epochs, batch, threads, ckpt_every, resume, proj;
  long steps;
  float lr, lr_min, wd, tau, ce_weight, label_fraction, max_minutes, balance, ema;
  long warmup, freeze;
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
      "  --balance P            draw batches with class weights n_c^(1-P): 0 = shuffled\n"
      "                         epochs (default), 0.5 = sqrt-balanced, 1 = uniform over classes\n"
      "  --epochs E | --steps S training length (default 30 epochs)\n"
      "  --batch-size B         clips per step, 2 views each (default 64)\n"
      "  --lr LR --lr-min LR    AdamW peak / final learning rate (1e-3, 1e-5)\n"
      "  --warmup STEPS         linear warm-up (default 100)\n"
      "  --weight-decay WD      decoupled weight decay (default 1e-4)\n"
      "  --proj-dim P           projection head size (default 64)\n"
      "  --arch NAME            encoder: cnn4 (default, 45.5 MFLOP per 1 s window) or dsres\n"
      "                         (residual depthwise-separable blocks, 101 MFLOP)\n"
      "  --aug SPEC | --no-aug  over the defaults, e.g. pitch=0.3:2,noise=0.5:5:30,fade=0.3:0.3,\n"
      "                         mask=0.3:0.2,gain=0.5:6,stretch=0.3:0.2,eq=0.5:10,phone=0.15,\n"
      "                         reverb=0.3:1.0,mix=0.3:3:20,fmask=0.3:8 (src/train/augment.h);\n"
      "                         off unless named: codec=P:KMIN:KMAX (Opus at KMIN-KMAX kbit/s,\n"
      "                         default 6-24, Vorbis q -0.1..0.2 or GSM 06.10, one drawn per\n"
      "                         view among those built in), formant=P:R (envelope x 1/R..R,\n"
      "                         default 1.25), mixup=P:ALPHA (a labelled clip mixed with\n"
      "                         another of the batch, weight max(l,1-l), l ~ Beta(ALPHA,ALPHA),\n"
      "                         default 0.4; soft cross-entropy target; needs --loss hybrid|ce),\n"
      "                         fmix=P:ALPHA (Freq-MixStyle: a view's per-band log-mel mean and\n"
      "                         spread mixed with another clip's, l ~ Beta(ALPHA,ALPHA),\n"
      "                         default 0.3)\n"
      "  --fmix-exempt A,B      with fmix: views of these classes are never mixed (they still\n"
      "                         lend their statistics), e.g. instrument families, whose\n"
      "                         long-term spectrum is much of what tells them apart\n"
      "  --seed N --threads N   (default 1, 2)\n"
      "  --ema D                also keep an exponential moving average of the weights and\n"
      "                         batch-norm statistics (decay D per step, e.g. 0.999; 0 off,\n"
      "                         the default): validated beside the trained weights, and\n"
      "                         exported as DIR/model.safetensors (the last weights as\n"
      "                         DIR/model-last.safetensors)\n"
      "  --checkpoint-every S   steps between checkpoints (default 200)\n"
      "  --resume               continue from DIR/checkpoint.safetensors\n"
      "  --max-minutes M        stop (checkpoint + export) after M minutes\n"
      "  --cache DIR            decoded-audio cache (default DIR/cache)\n"
      "  --init MODEL           fine-tune: start from MODEL's encoder (its layer list, front\n"
      "                         end and window; --arch is ignored); classifier rows of the\n"
      "                         classes MODEL's labels name are kept, the others and the\n"
      "                         projection head start random\n"
      "  --freeze-encoder S     with --init: the encoder stays as MODEL's for the first S\n"
      "                         steps while the projection head and classifier learn\n"
      "                         (linear probing, then fine-tuning: LP-FT), so that the\n"
      "                         random projection head's first gradients do not reach\n"
      "                         MODEL's features; while frozen the encoder runs in\n"
      "                         eval mode and computes no gradient (S = --steps refits\n"
      "                         the heads alone); the schedule counts from step 0\n"
      "                         (default 0: everything trains from the first step)\n"
      "  --train-labels A,B     with --init: only these classes' classifier rows learn,\n"
      "                         every other row stays as MODEL's (e.g. classes MODEL\n"
      "                         lacks, or rows put in by tools/set-labels.py --add, fitted\n"
      "                         against the trained rows; with --freeze-encoder S =\n"
      "                         --steps nothing else of the exported model changes)\n"
      "  --val-split NAME       held-out rows (folders: --val-fraction) scored during and\n"
      "                         after training (default val; \"\" none)\n"
      "  --val-every S          steps between validations (default: --checkpoint-every)\n"
      "  --name TEXT --description TEXT   the model's clar.name / clar.description\n"
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
  o->val_split = "val";
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
    else if (OPT ("--balance")) o->balance = strtof (v, NULL);
    else if (OPT ("--epochs")) o->epochs = atoi (v);
    else if (OPT ("--steps")) o->steps = atol (v);
    else if (OPT ("--batch-size")) o->batch = atoi (v);
    else if (OPT ("--lr")) o->lr = strtof (v, NULL);
    else if (OPT ("--lr-min")) o->lr_min = strtof (v, NULL);
    else if (OPT ("--warmup")) o->warmup = atol (v);
    else if (OPT ("--weight-decay")) o->wd = strtof (v, NULL);
    else if (OPT ("--proj-dim")) o->proj = atoi (v);
    else if (OPT ("--arch")) o->arch = v;
    else if (OPT ("--init")) o->init = v;
    else if (OPT ("--freeze-encoder")) {
      char *end;
      o->freeze = strtol (v, &end, 10);
      if (end == v || *end)
        o->freeze = -1;
    }
    else if (OPT ("--train-labels")) o->train_labels = v;
    else if (OPT ("--fmix-exempt")) o->fmix_exempt = v;
    else if (OPT ("--val-split")) o->val_split = v;
    else if (OPT ("--val-every")) o->val_every = atoi (v);
    else if (OPT ("--name")) o->name = v;
    else if (OPT ("--description")) o->description = v;
    else if (OPT ("--aug")) o->aug = v;
    else if (!strcmp (a, "--no-aug")) o->aug = "none";
    else if (OPT ("--seed")) o->seed = strtoull (v, NULL, 10);
    else if (OPT ("--threads")) o->threads = atoi (v);
    else if (OPT ("--checkpoint-every")) o->ckpt_every = atoi (v);
    else if (!strcmp (a, "--resume")) o->resume = 1;
    else if (OPT ("--max-minutes")) o->max_minutes = strtof (v, NULL);
    else if (OPT ("--ema")) o->ema = strtof (v, NULL);
    else if (OPT ("--cache")) o->cache = v;
    else if (!strcmp (a, "--help") || !strcmp (a, "-h")) { usage (stdout); exit (0); }
    else { fprintf (stderr, "clar-train: unknown or incomplete option %s\n", a); return -1; }
#undef OPT
  }
  if (!o->data || !o->out) { usage (stderr); return -1; }
  if (o->batch < 2 || o->batch > 4096 || o->threads < 1 || o->threads > 256
      || !(o->tau > 0) || !(o->lr > 0) || o->label_fraction < 0 || o->label_fraction > 1
      || o->epochs < 1 || o->steps < 0 || o->proj < 1 || o->ckpt_every < 1
      || !(o->balance >= 0 && o->balance <= 1) || !(o->ema >= 0 && o->ema < 1)) {
    fprintf (stderr, "clar-train: an option is out of range (see --help)\n");
    return -1;
  }
  if (strcmp (o->loss, "hybrid") && strcmp (o->loss, "ntxent") && strcmp (o->loss, "supcon")
      && strcmp (o->loss, "ce")) {
    fprintf (stderr, "clar-train: --loss must be hybrid, ntxent, supcon or ce\n");
    return -1;
  }
  if (o->val_every < 0 || (o->name && (!*o->name || strlen (o->name) > 200 || !g_utf8_validate (o->name, -1, NULL)))
      || (o->description && (strlen (o->description) > 4000 || !g_utf8_validate (o->description, -1, NULL)))) {
    fprintf (stderr, "clar-train: --val-every must be >= 0; --name 1..200 and --description up to "
        "4000 bytes of UTF-8\n");
    return -1;
  }
  if (o->freeze < 0) {
    fprintf (stderr, "clar-train: --freeze-encoder must be a step count >= 0\n");
    return -1;
  }
  if (o->freeze > 0 && !o->init) {
    fprintf (stderr, "clar-train: --freeze-encoder needs --init (it keeps a trained encoder "
        "while the heads learn; a random encoder has nothing to keep)\n");
    return -1;
  }
  if (o->train_labels && (!o->init || !*o->train_labels)) {
    fprintf (stderr, "clar-train: --train-labels needs --init and a list of labels (the other "
        "rows stay as the --init model's)\n");
    return -1;
  }
  if (!clar_architecture_by_name (o->arch)) {
    fprintf (stderr, "clar-train: --arch must be cnn4 or dsres\n");
    return -1;
  }
  return 0;
}

/* The classes a comma-separated list given to option opt names, as one
 * flag per class of ds (calloc'd; *n_named: how many distinct classes).
 * Every name must be a class of the training data: a typo would otherwise
 * name nothing and the run would look as if it had worked. NULL, with the
 * reason said, when a name is not (*rc 2) or memory runs out (*rc 1). */
static unsigned char *
named_classes (const clar_dataset *ds, const char *list, const char *opt, size_t *n_named,
               int *rc)
{
  gchar **want = g_strsplit (list, ",", -1);
  unsigned char *flag = calloc (ds->n_classes ? ds->n_classes : 1, 1);
  *n_named = 0;
  *rc = 1;
  if (!flag)
    fprintf (stderr, "clar-train: out of memory\n");
  for (gchar **w = want; flag && *w; w++) {
    size_t k = 0;
    while (k < ds->n_classes && strcmp (ds->classes[k], *w))
      k++;
    if (k == ds->n_classes) {
      fprintf (stderr, "clar-train: %s: \"%s\" is not a class of the training data\n", opt, *w);
      free (flag);
      flag = NULL;
      *rc = 2;
      break;
    }
    *n_named += !flag[k];
    flag[k] = 1;
  }
  g_strfreev (want);
  return flag;
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

/* SIGINT/SIGTERM: the step loop checks this flag (the handler only sets
 * it: async-signal-safe), then writes a checkpoint and the model. */
static volatile sig_atomic_t stop_signal = 0;

static void
on_stop_signal (int sig)
{
  stop_signal = sig;
}

static void
install_stop_handlers (void)
{
  struct sigaction sa;
  memset (&sa, 0, sizeof sa);
  sa.sa_handler = on_stop_signal;
  sigemptyset (&sa.sa_mask);
  /* A second signal kills at once (the default action). */
  sa.sa_flags = SA_RESETHAND;
  sigaction (SIGINT, &sa, NULL);
  sigaction (SIGTERM, &sa, NULL);
}

/* A batch size to suggest for n usable clips: the largest power of two
 * not above n (at least 2). */
static int
suggest_batch (size_t n)
{
  int b = 2;
  while ((size_t) b * 2 <= n && b < 4096)
    b *= 2;
  return b;
}

/* Validation on held-out clips, the way clar-eval scores the model's head:
 * each clip's embedding is the normalised mean of its windows' normalised
 * embeddings (every half window, a final partial window when it holds at
 * least --min-fill of a window, zero-padded: clip-embed.h), its logits scale x cosine
 * with the unit classifier rows. Eval mode (running batch-norm statistics):
 * no state of the network changes. */
typedef struct {
  double loss, acc;
  size_t n;
} val_result;

static int
validate (clar_net *net, clar_mel *mel, const clar_dataset *val, const clar_net_config *cfg,
          float *mels, int max_m, float *win, val_result *out)
{
  size_t W = cfg->window_samples, H = W / 2, D = (size_t) clar_net_embedding_dim (net);
  size_t T = clar_mel_n_frames (&cfg->mel, W), nm = (size_t) cfg->mel.n_mels;
  int K = clar_net_n_classes (net), m = 0;
  float *sum = calloc ((val->n_clips ? val->n_clips : 1) * D, sizeof (float));
  size_t *owner = malloc ((size_t) max_m * sizeof (size_t));
  const float *wc = NULL;
  double loss = 0;
  size_t ok = 0, n = 0;
  for (size_t i = 0; i < clar_net_n_params (net); i++)
    if (!strcmp (clar_net_param (net, i)->name, "head.classifier.weight"))
      wc = clar_net_param (net, i)->w;
  memset (out, 0, sizeof *out);
  if (!sum || !owner || !wc || K < 1) {
    free (sum);
    free (owner);
    return -1;
  }
  for (size_t c = 0; c <= val->n_clips; c++) {
    const clar_clip *cl = c < val->n_clips ? &val->clips[c] : NULL;
    for (size_t start = 0; cl && cl->class_id >= 0 && start < cl->n; start += H) {
      size_t valid = cl->n - start < W ? cl->n - start : W;
      if (2 * valid < W)
        break;
      memcpy (win, cl->pcm + start, valid * sizeof (float));
      memset (win + valid, 0, (W - valid) * sizeof (float));
      clar_mel_compute (mel, win, W, mels + (size_t) m * nm * T, T);
      owner[m++] = c;
      if (m == max_m) {
        const float *h, *z, *lg, *e;
        if (clar_net_forward (net, mels, m, (int) T, 0, &h, &z, &lg) != CLAR_OK)
          goto fail;
        e = clar_net_embeddings_normalised (net);
        for (int j = 0; j < m; j++)
          for (size_t d = 0; d < D; d++)
            sum[owner[j] * D + d] += e[(size_t) j * D + d];
        m = 0;
      }
      if (valid < W)
        break;
    }
    if (!cl && m) {
      const float *h, *z, *lg, *e;
      if (clar_net_forward (net, mels, m, (int) T, 0, &h, &z, &lg) != CLAR_OK)
        goto fail;
      e = clar_net_embeddings_normalised (net);
      for (int j = 0; j < m; j++)
        for (size_t d = 0; d < D; d++)
          sum[owner[j] * D + d] += e[(size_t) j * D + d];
      m = 0;
    }
  }
  for (size_t c = 0; c < val->n_clips; c++) {
    int y = val->clips[c].class_id, best = 0;
    double ss = 0, mx = -1e30, se = 0, zy = 0;
    float *e = sum + c * D;
    if (y < 0)
      continue;
    for (size_t d = 0; d < D; d++)
      ss += (double) e[d] * e[d];
    if (!(ss > 0))
      continue;
    n++;
    {
      double lg[4096];
      for (int k = 0; k < K && k < 4096; k++) {
        double dot = 0, wn = 0;
        for (size_t d = 0; d < D; d++) {
          dot += (double) wc[(size_t) k * D + d] * e[d];
          wn += (double) wc[(size_t) k * D + d] * wc[(size_t) k * D + d];
        }
        lg[k] = cfg->cls_scale * dot / (sqrt (ss) * (wn > 0 ? sqrt (wn) : 1));
        if (lg[k] > mx) { mx = lg[k]; best = k; }
        if (k == y) zy = lg[k];
      }
      for (int k = 0; k < K && k < 4096; k++)
        se += exp (lg[k] - mx);
      loss += mx + log (se) - zy;
    }
    ok += best == y;
  }
  out->n = n;
  out->loss = n ? loss / n : 0;
  out->acc = n ? (double) ok / n : 0;
  free (sum);
  free (owner);
  return 0;
fail:
  free (sum);
  free (owner);
  return -1;
}

/* Writes the net as a model file with META; says why on failure. */
static int
export_model (const clar_net *net, const char *path, const char **meta)
{
  clar_error err = { 0 };
  if (clar_net_export (net, path, meta, &err) != CLAR_OK) {
    fprintf (stderr, "clar-train: export failed: %s\n", err.message);
    return 1;
  }
  return 0;
}

/* The waveform of one training view of clip c: a random window, --aug's
 * waveform augmentations, and as background candidate any other training
 * clip (the first draw of r). The training loop and the --init
 * batch-norm calibration both use it, so that calibration sees batches
 * like the ones training then makes. */
static void
training_view (const clar_augment_config *aug, clar_rng *r, const clar_dataset *ds,
               const size_t *use, size_t n_use, const clar_clip *c, float *x, size_t W)
{
  const clar_clip *bg = &ds->clips[use[clar_rng_next (r) % n_use]];
  if (bg == c)
    bg = NULL;
  clar_augment_view_bg (aug, r, c->pcm, c->n, bg ? bg->pcm : NULL, bg ? bg->n : 0, x, W);
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
  /* Mixup (--aug mixup=P:ALPHA): per clip the batch position it is mixed
   * with (-1 none) and its lambda; per view row the partner's class and
   * the lambda applied; the partner's augmented views. */
  int *mix_with = NULL, *mix_lab = NULL, mix_silence = -1;
  double *mix_draw = NULL;
  long mix_views = 0, mix_rows = 0;   /* views mixed / labelled views, this process */
  long fmix_views = 0, fmix_rows = 0;  /* Freq-MixStyle: views mixed / views */
  long fmix_exempt_views = 0;          /* views of --fmix-exempt classes */
  int *fgroup = NULL;                  /* each view's clip, for Freq-MixStyle */
  unsigned char *fexempt = NULL;       /* each view: of a --fmix-exempt class */
  unsigned char *fexempt_cls = NULL;   /* each class: named by --fmix-exempt */
  float *mix_lam = NULL, *mix_buf = NULL;
  int *labels2, *labels1;
  FILE *logf;
  double t_start, t_last = 0, t_step0;
  long step0;
  clar_dataset val;
  clar_model *init = NULL;
  val_result vr, vre;
  float *ema = NULL, *cur = NULL;   /* --ema: the average, a scratch state */
  unsigned char *row_fixed = NULL;   /* --train-labels: rows that keep --init's vector */
  clar_param *cls_param = NULL;
  size_t n_state = 0;
  float *vwin = NULL;
  int val_on = 0;

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
  if (o.fmix_exempt && !(aug.p_fmix > 0)) {
    fprintf (stderr, "clar-train: --fmix-exempt needs Freq-MixStyle on (--aug fmix=P:ALPHA)\n");
    return 2;
  }
  if (aug.p_codec > 0) {
    /* Say which codecs the views use; refuse when the build has none. */
    char names[64] = "";
    for (int c = 0; c < CLAR_CODEC_COUNT; c++)
      if (clar_codec_available ((clar_codec) c)) {
        strcat (names, " ");
        strcat (names, clar_codec_name ((clar_codec) c));
      }
    if (!names[0]) {
      fprintf (stderr, "clar-train: --aug codec=%g: this build has no codec library (configure "
          "with libopus-dev, libvorbis-dev or libgsm1-dev installed, meson option codecs)\n",
          aug.p_codec);
      return 2;
    }
    fprintf (stderr, "clar-train: codec augmentation with:%s\n", names);
  }
  if (aug.p_mixup > 0 && strcmp (o.loss, "hybrid") && strcmp (o.loss, "ce")) {
    /* Mixup's only effect on the objective is the soft target of the
     * cross-entropy; without one it would only mix clips. */
    fprintf (stderr, "clar-train: --aug mixup=%g needs a cross-entropy term (--loss hybrid or ce)\n",
        aug.p_mixup);
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
  cfg.architecture = clar_architecture_by_name (o.arch);
  if (o.init) {
    const clar_model_info *mi;
    if (clar_model_load_file (o.init, &init, &err) != CLAR_OK) {
      fprintf (stderr, "clar-train: --init: %s\n", err.message);
      return 1;
    }
    mi = clar_model_get_info (init);
    cfg.architecture = clar_model_get_metadata (init, "clar.architecture");
    cfg.mel = mi->mel;
    cfg.window_samples = mi->window_samples;
    cfg.hop_samples = mi->hop_samples;
    if (clar_model_get_labels (init))
      cfg.cls_scale = clar_labels_scale (clar_model_get_labels (init));
  }
  /* Validation scores clips as clar-eval does (clip-embed.h, --min-fill);
   * training keeps clips down to a tenth of a window whatever --min-fill
   * says: a short sound (a footstep, an arrow) is a whole example, placed at
   * a random offset of a zero window by the augmentation's time shift. */
  o.dopt.min_samples = clar_min_clip_samples (cfg.window_samples, o.dopt.min_fill);
  clar_dataset_init (&val, &o.dopt);
  o.dopt.min_fill = 0.1;
  o.dopt.min_samples = clar_min_clip_samples (cfg.window_samples, o.dopt.min_fill);
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
  if (ds.n_classes == 1 && strcmp (o.loss, "ntxent")) {
    fprintf (stderr, "clar-train: all labelled clips are of one class (%s): a classifier needs at "
        "least two. Add a folder (or manifest rows) per class, or train self-supervised with "
        "--loss ntxent\n", ds.classes[0]);
    return 1;
  }
  if (o.val_split && *o.val_split && ds.n_classes) {
    /* Held-out clips: listed and decoded now, so that an overlap with the
     * training clips stops the run before it trains. */
    if (clar_dataset_list (&val, o.data, o.val_split) == 0) {
      if (clar_dataset_load (&val, cfg.mel.sample_rate, cache, o.threads)
          || clar_dataset_check_disjoint ("clar-train", &ds, &val)
          || (init && clar_dataset_check_list ("clar-train", o.init,
              clar_model_get_metadata (init, CLAR_TRAINING_CLIPS_KEY), &val)))
        return 1;
      clar_dataset_index_classes (&val, ds.classes, ds.n_classes);
      val_on = 1;
    } else {
      fprintf (stderr, "clar-train: no validation (no clips in split %s)\n", o.val_split);
    }
  }
  if (stop_signal) {
    fprintf (stderr, "clar-train: interrupted before training; nothing written\n");
    return 128 + stop_signal;
  }
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
  if (n_use == 0) {
    fprintf (stderr, "clar-train: no usable clips (--loss ce trains on labelled clips only)\n");
    return 1;
  }
  if (strcmp (o.loss, "ce") && n_use < (size_t) o.batch) {
    fprintf (stderr, "clar-train: %zu usable clips but --batch-size %d: a contrastive batch needs "
        "distinct clips; use --batch-size %d (at most %zu), or add clips\n", n_use, o.batch,
        suggest_batch (n_use), n_use);
    return 1;
  }

  if (o.fmix_exempt) {
    size_t n_ex;
    int rc;
    if (!(fexempt_cls = named_classes (&ds, o.fmix_exempt, "--fmix-exempt", &n_ex, &rc)))
      return rc;
    fprintf (stderr, "clar-train: --fmix-exempt: views of %zu of %zu classes keep their own band "
        "statistics\n", n_ex, ds.n_classes);
  }

  cfg.proj_dim = o.proj;
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
  fgroup = malloc ((size_t) 2 * o.batch * sizeof (int));
  fexempt = calloc ((size_t) 2 * o.batch, 1);
  if (aug.p_mixup > 0) {
    mix_with = malloc ((size_t) o.batch * sizeof (int));
    mix_draw = malloc ((size_t) o.batch * sizeof (double));
    mix_lab = malloc ((size_t) 2 * o.batch * sizeof (int));
    mix_lam = malloc ((size_t) 2 * o.batch * sizeof (float));
    mix_buf = malloc ((size_t) 2 * o.batch * W * sizeof (float));
    if (!mix_with || !mix_draw || !mix_lab || !mix_lam || !mix_buf) {
      fprintf (stderr, "clar-train: out of memory\n");
      return 1;
    }
    /* "silence" is a level, not a sound (as in the text tower's captions,
     * clar_clap_clip_kind): matched to another clip's level it would be
     * loud noise, and a sound mixed into it is no longer silence. Its
     * clips are never mixed, on either side. */
    for (size_t k = 0; k < ds.n_classes; k++)
      if (!strcmp (ds.classes[k], "silence"))
        mix_silence = (int) k;
  }
  ckpt = g_build_filename (o.out, "checkpoint.safetensors", NULL);
  model_path = g_build_filename (o.out, "model.safetensors", NULL);
  log_path = g_build_filename (o.out, "train-log.tsv", NULL);
  cmdline = g_strjoinv (" ", argv);

  vwin = malloc (W * sizeof (float));
  if (!views || !mels || !dz || !dl || !labels1 || !labels2 || !fgroup || !fexempt || !vwin) {
    fprintf (stderr, "clar-train: out of memory\n");
    return 1;
  }
  step = 0;
  if (init && !o.resume) {
    /* Fine-tuning: MODEL's encoder, batch-norms calibrated on one batch
     * (nn.h, clar_net_calibrate_bn): the eval mode is then MODEL exactly,
     * and the train mode is MODEL on batches like the calibration batch.
     * So that batch is drawn as training draws its views: random training
     * clips, each a view made as training makes it (training_view, then
     * the log-mel and --aug's spectrogram masks). Not the first
     * clips of the list: a manifest is sorted (its first 128 training rows
     * are one soundfont's keyboard notes), and calibrated on those the
     * train-mode network started far from MODEL on every real batch
     * (first-step cross-entropy 2.88, against 0.96 calibrated as now, for
     * a model whose own leg ended near 1.2), and its gradients then
     * reached MODEL's features. */
    size_t rows = 0;
    int M = (int) (n_use < (size_t) 2 * o.batch ? n_use : (size_t) 2 * o.batch);
    clar_rng cr = { o.seed * 0x9E3779B97F4A7C15ULL + 0xB4CA11B4A7ULL };
    unsigned char *seen;
    size_t n_seen = 0;
    if (clar_net_load_encoder (net, o.init, clar_model_get_labels (init), &rows, &err) != CLAR_OK) {
      fprintf (stderr, "clar-train: --init: %s\n", err.message);
      return 1;
    }
    if (!(seen = calloc (ds.n_classes + 1, 1))) {
      fprintf (stderr, "clar-train: out of memory\n");
      return 1;
    }
    for (int b = 0; b < M; b++) {
      const clar_clip *c = &ds.clips[use[clar_rng_next (&cr) % n_use]];
      float *x = views + (size_t) b * W, *mx = mels + (size_t) b * nm * T;
      if (c->class_id >= 0 && !seen[c->class_id]) {
        seen[c->class_id] = 1;
        n_seen++;
      }
      training_view (&aug, &cr, &ds, use, n_use, c, x, W);
      clar_mel_compute (mel, x, W, mx, T);
      clar_augment_spec (&aug, &cr, mx, T, nm);
    }
    free (seen);
    if (clar_net_calibrate_bn (net, mels, M, (int) T, &err) != CLAR_OK) {
      fprintf (stderr, "clar-train: --init: %s\n", err.message);
      return 1;
    }
    fprintf (stderr, "clar-train: batch-norms calibrated on %d augmented views of random training "
        "clips (%zu of %zu classes)\n", M, n_seen, ds.n_classes);
    if (rows == ds.n_classes)
      fprintf (stderr, "clar-train: fine-tuning %s: encoder and head kept (the model names all "
          "%zu classes)\n", o.init, ds.n_classes);
    else
      fprintf (stderr, "clar-train: fine-tuning %s: encoder kept; head: %zu of %zu classes kept "
          "from the model's labels, the other %zu start random\n", o.init, rows, ds.n_classes,
          ds.n_classes - rows);
  }
  if (o.freeze > 0)
    fprintf (stderr, "clar-train: the encoder is frozen for steps 1-%ld: the projection head and "
        "classifier learn alone first (--freeze-encoder)\n", o.freeze);
  if (o.train_labels) {
    /* --train-labels: the rows of the other classes keep the --init model's
     * vectors. Their gradient rows are zeroed after each backward pass: the
     * classifier has no weight decay (nn.h) and AdamW's moments of a row
     * that never has a gradient stay 0, so the row never moves. Every kept
     * row must be one the model names (a random row would stay random). */
    const clar_labels *il = clar_model_get_labels (init);
    size_t n_train;
    int rc;
    for (size_t i = 0; i < clar_net_n_params (net); i++)
      if (!strcmp (clar_net_param (net, i)->name, "head.classifier.weight"))
        cls_param = clar_net_param (net, i);
    if (!cls_param) {
      fprintf (stderr, "clar-train: --train-labels: the network has no classifier\n");
      return 1;
    }
    /* The listed classes' rows learn: the flags turned round. */
    if (!(row_fixed = named_classes (&ds, o.train_labels, "--train-labels", &n_train, &rc)))
      return rc;
    for (size_t k = 0; k < ds.n_classes; k++) {
      int named = 0;
      row_fixed[k] = !row_fixed[k];
      for (size_t j = 0; il && j < clar_labels_count (il); j++)
        named |= !strcmp (clar_labels_name (il, j), ds.classes[k]);
      if (row_fixed[k] && !named) {
        fprintf (stderr, "clar-train: --train-labels: class \"%s\" is not a label of %s, so its row "
            "would stay random; list it too\n", ds.classes[k], o.init);
        return 2;
      }
    }
    fprintf (stderr, "clar-train: --train-labels: %zu of %zu classifier rows learn, the other %zu "
        "stay as %s's\n", n_train, ds.n_classes, ds.n_classes - n_train, o.init);
  }
  if (o.ema > 0) {
    /* The average starts at the starting weights (the --init model's or
     * the random ones); a checkpoint carries it as its user data. */
    n_state = clar_net_state_size (net);
    ema = malloc (n_state * sizeof (float));
    cur = malloc (n_state * sizeof (float));
    if (!ema || !cur) {
      fprintf (stderr, "clar-train: out of memory\n");
      return 1;
    }
    clar_net_state_get (net, ema);
  }
  if (o.resume) {
    if (clar_net_load_checkpoint (net, &opt, ema, n_state, ckpt, &err) != CLAR_OK) {
      fprintf (stderr, "clar-train: cannot resume: %s%s\n", err.message,
          ema ? " (a run resumes with the --ema it started with)" : "");
      return 1;
    }
    step = opt.step;
    fprintf (stderr, "clar-train: resumed at step %ld\n", step);
  }
  logf = fopen (log_path, o.resume ? "a" : "w");
  if (logf && !o.resume)
    fprintf (logf, "step\tepoch\tlr\tloss\tcontrastive\tce\tsamples_per_s\tval_loss\tval_acc%s\n",
        ema ? "\tema_val_loss\tema_val_acc" : "");
  t_start = t_step0 = now ();
  step0 = step;
  if (o.val_every == 0)
    o.val_every = o.ckpt_every;
  install_stop_handlers ();
  if (val_on && init && !o.resume) {
    /* The starting point's score: fine-tuning should beat it. */
    if (validate (net, mel, &val, &cfg, mels, 2 * o.batch, vwin, &vr) == 0 && vr.n) {
      fprintf (stderr, "val step 0: loss %.4f accuracy %.4f (%zu clips, the --init model)\n",
          vr.loss, vr.acc, vr.n);
      if (logf)
        fprintf (logf, "-1\t0\t\t\t\t\t\t%.5f\t%.4f\n", vr.loss, vr.acc);   /* before step 0 */
    }
  }

  /* Class-balanced sampling (--balance P): clip i is drawn with weight
   * n_c^-P, so class c gets a share proportional to n_c^(1-P); unlabelled
   * clips count as one class of their own. cum holds the running sums. */
  double *cum = NULL;
  if (o.balance > 0) {
    size_t *cnt = calloc (ds.n_classes + 1, sizeof (size_t));
    cum = malloc (n_use * sizeof (double));
    if (!cnt || !cum)
      return 1;
    for (size_t i = 0; i < n_use; i++) {
      int c = ds.clips[use[i]].class_id;
      cnt[c < 0 ? ds.n_classes : (size_t) c]++;
    }
    for (size_t i = 0; i < n_use; i++) {
      int c = ds.clips[use[i]].class_id;
      cum[i] = (i ? cum[i - 1] : 0) + pow ((double) cnt[c < 0 ? ds.n_classes : (size_t) c], -o.balance);
    }
    free (cnt);
  }

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
      if (cum) {
        /* Weighted draws, seeded by the step (so --resume stays exact). */
        clar_rng r = { o.seed * 7919ULL + (uint64_t) step * 104729ULL };
        for (int b = 0; b < o.batch; b++) {
          double u = clar_rng_uniform (&r) * cum[n_use - 1];
          size_t lo = 0, hi = n_use - 1;
          while (lo < hi) {
            size_t mid = (lo + hi) / 2;
            if (cum[mid] <= u) lo = mid + 1; else hi = mid;
          }
          perm[(pos + (size_t) b) % n_use] = use[lo];
        }
      }
      if (mix_with) {
        /* Mixup's draws, one generator per step of its own (the views'
         * streams stay those of a run without mixup): a labelled clip is
         * mixed, with probability p_mixup, with another labelled clip of
         * the batch; neither is of the class "silence". */
        clar_rng r = { o.seed * 15485863ULL + (uint64_t) step * 2750159ULL + 0x6D69787570ULL };
        for (int b = 0; b < o.batch; b++) {
          const clar_clip *c = &ds.clips[perm[(pos + (size_t) b) % n_use]];
          double lam = clar_mixup_lambda (&aug, &r);
          mix_with[b] = -1;
          mix_draw[b] = 1.0;
          if (lam >= 1.0 || c->class_id < 0 || c->class_id == mix_silence || o.batch < 2)
            continue;
          for (int tries = 0; tries < 8; tries++) {
            int p = (b + 1 + (int) (clar_rng_next (&r) % (uint64_t) (o.batch - 1))) % o.batch;
            int pc = ds.clips[perm[(pos + (size_t) p) % n_use]].class_id;
            if (pc >= 0 && pc != mix_silence) {
              mix_with[b] = p;
              mix_draw[b] = lam;
              break;
            }
          }
        }
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
        const uint64_t view_seed = (o.seed << 32) ^ ((uint64_t) step * 8191 + (uint64_t) (2 * b + v));
        clar_rng r = { view_seed };
        float *x = views + ((size_t) v * o.batch + b) * W;
        float *mx = mels + ((size_t) v * o.batch + b) * nm * T;
        training_view (&aug, &r, &ds, use, n_use, c, x, W);
        if (mix_with) {
          int p = mix_with[b];
          mix_lam[v * o.batch + b] = 1.0f;
          mix_lab[v * o.batch + b] = -1;
          if (p >= 0) {
            /* The partner's own view (its own crop and augmentations),
             * mixed into this one. */
            const clar_clip *cp = &ds.clips[perm[(pos + (size_t) p) % n_use]];
            clar_rng rp = { view_seed ^ 0xD1B54A32D192ED03ULL };
            float *y = mix_buf + (size_t) bv * W;
            double lam;
            clar_augment_view (&aug, &rp, cp->pcm, cp->n, y, W);
            lam = clar_mixup (x, y, W, mix_draw[b]);
            if (lam < 1.0) {
              mix_lam[v * o.batch + b] = (float) lam;
              mix_lab[v * o.batch + b] = cp->class_id;
            }
          }
        }
        clar_mel_compute (mels_t[clar_train_thread_id ()], x, W, mx, T);
        clar_augment_spec (&aug, &r, mx, T, nm);
      }
      for (int b = 0; b < o.batch; b++) {
        const clar_clip *c = &ds.clips[perm[(pos + (size_t) b) % n_use]];
        labels1[b] = c->class_id;
        labels2[b] = labels2[b + o.batch] = c->class_id;
        if (mix_with && c->class_id >= 0) {
          mix_rows += 2;
          mix_views += (mix_lab[b] >= 0) + (mix_lab[b + o.batch] >= 0);
        }
        fgroup[b] = fgroup[b + o.batch] = (int) perm[(pos + (size_t) b) % n_use];
        fexempt[b] = fexempt[b + o.batch] = fexempt_cls && c->class_id >= 0 && fexempt_cls[c->class_id];
      }
      if (aug.p_fmix > 0) {
        /* Freq-MixStyle across the batch (augment.h), after every view's
         * log-mel; its own generator, a function of seed and step. */
        clar_rng fr = { (o.seed << 32) ^ ((uint64_t) step * 8191 + 0xF4D1ULL) ^ 0x6D69787374796CULL };
        fmix_views += (long) clar_freq_mixstyle_batch (&aug, &fr, mels, (size_t) 2 * o.batch, T, nm,
            fgroup, fexempt);   /* all zero without --fmix-exempt */
        for (int v = 0; v < 2 * o.batch; v++)
          fmix_exempt_views += fexempt[v];
        fmix_rows += 2 * o.batch;
      }
      clar_net_zero_grad (net);
      /* Before the forward: a frozen encoder runs in eval mode (nn.h). */
      if (o.freeze > 0)
        clar_net_freeze_encoder (net, step < o.freeze, o.freeze);
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
        /* Without mixup mix_lab and mix_lam are NULL: plain cross-entropy. */
        lce = clar_loss_ce_mixup (logits, 2 * o.batch, K, labels2, mix_lab, mix_lam, dl);
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
      if (row_fixed) {
        size_t D = cls_param->n / (size_t) K;
        for (int k = 0; k < K; k++)
          if (row_fixed[k])
            memset (cls_param->g + (size_t) k * D, 0, D * sizeof (float));
      }
      lr = clar_lr_schedule (step, o.warmup, total_steps, o.lr, o.lr_min);
      clar_adam_step (&opt, net, lr);
      if (ema) {
        /* Debiased at the start as TensorFlow's ExponentialMovingAverage
         * with num_updates: the first averages follow the weights. */
        double d = fmin (o.ema, (1.0 + step) / (10.0 + step));
        clar_net_state_get (net, cur);
        for (size_t i = 0; i < n_state; i++)
          ema[i] = (float) (d * ema[i] + (1.0 - d) * cur[i]);
      }
      {
        double t = now (), sps = (step + 1 - step0) * 2.0 * o.batch / (t - t_step0);
        int do_val = val_on && ((step + 1) % o.val_every == 0 || step + 1 == total_steps);
        if (do_val && (validate (net, mel, &val, &cfg, mels, 2 * o.batch, vwin, &vr) || !vr.n))
          do_val = 0;
        if (do_val && ema) {
          /* The average, validated in place of the weights, then the
           * weights back from cur, which the update above filled (the
           * optimiser's moments are untouched). */
          clar_net_state_set (net, ema);
          if (validate (net, mel, &val, &cfg, mels, 2 * o.batch, vwin, &vre) || !vre.n)
            vre.loss = vre.acc = NAN;
          clar_net_state_set (net, cur);
        }
        if (logf) {
          fprintf (logf, "%ld\t%ld\t%.6g\t%.5f\t%.5f\t%.5f\t%.1f", step, epoch, lr, loss, lc, lce, sps);
          if (do_val)
            fprintf (logf, "\t%.5f\t%.4f", vr.loss, vr.acc);
          else
            fprintf (logf, "\t\t");
          if (do_val && ema)
            fprintf (logf, "\t%.5f\t%.4f", vre.loss, vre.acc);
          else if (ema)
            fprintf (logf, "\t\t");
          fprintf (logf, "\n");
        }
        if (do_val)
          fprintf (stderr, "val step %ld: loss %.4f accuracy %.4f (%zu clips)\n", step + 1, vr.loss,
              vr.acc, vr.n);
        if (do_val && ema)
          fprintf (stderr, "val step %ld, weight average: loss %.4f accuracy %.4f\n", step + 1,
              vre.loss, vre.acc);
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
        if (clar_net_save_checkpoint (net, &opt, ema, n_state, ckpt, &err) != CLAR_OK)
          fprintf (stderr, "clar-train: checkpoint failed: %s\n", err.message);
        if (o.max_minutes > 0 && now () - t_start > o.max_minutes * 60) {
          fprintf (stderr, "clar-train: --max-minutes reached at step %ld\n", step + 1);
          step++;
          break;
        }
      }
      if (stop_signal) {
        /* Checked once per step: the step in flight completes, so the
         * checkpoint holds a consistent state that --resume continues. */
        step++;
        if (step % o.ckpt_every && step != total_steps
            && clar_net_save_checkpoint (net, &opt, ema, n_state, ckpt, &err) != CLAR_OK)
          fprintf (stderr, "clar-train: checkpoint failed: %s\n", err.message);
        fprintf (stderr, "clar-train: %s at step %ld: wrote %s (continue with --resume)\n",
            stop_signal == SIGINT ? "SIGINT" : "SIGTERM", step, ckpt);
        break;
      }
    }
    free (perm);
    free (use);
    free (cum);
  }
  {
    gchar *steps_s = g_strdup_printf ("%ld", step);
    /* The clips the encoder learnt from (with an --init model's), so that
     * clar-eval can refuse to score them. */
    gchar *clips = clar_dataset_content_list (&ds,
        init ? clar_model_get_metadata (init, CLAR_TRAINING_CLIPS_KEY) : NULL);
    const char *meta[] = {
      "clar.name", o.name ? o.name : "clar-trained",
      "clar.description", o.description ? o.description
          : "encoder trained by clar-train (CLAR: contrastive + supervised)",
      "clar.training", cmdline,
      "clar.training_steps", steps_s,
      CLAR_TRAINING_CLIPS_KEY, clips,
      NULL
    };
    int bad = 0;
    if (ema) {
      gchar *last = g_build_filename (o.out, "model-last.safetensors", NULL);
      if (!(bad = export_model (net, last, meta)))
        fprintf (stderr, "clar-train: wrote %s (the last weights)\n", last);
      g_free (last);
      clar_net_state_set (net, ema);
    }
    bad = bad || export_model (net, model_path, meta);
    g_free (clips);
    g_free (steps_s);
    if (bad)
      return 1;
  }
  fprintf (stderr, "clar-train: wrote %s after %ld steps (%.1f min)%s\n", model_path, step,
      (now () - t_start) / 60, ema ? ", the weight average" : "");
  if (mix_with)
    fprintf (stderr, "clar-train: mixup mixed %ld of %ld labelled views in this run's steps "
        "(clips of \"silence\" never)\n", mix_views, mix_rows);
  if (aug.p_fmix > 0)
    fprintf (stderr, "clar-train: freq-mixstyle mixed %ld of %ld views in this run's steps "
        "(%ld views of --fmix-exempt classes left as they were)\n", fmix_views, fmix_rows, fmix_exempt_views);
  if (val_on && validate (net, mel, &val, &cfg, mels, 2 * o.batch, vwin, &vr) == 0 && vr.n)
    fprintf (stderr, "clar-train: validation after training: loss %.4f accuracy %.4f "
        "(%zu held-out clips of split %s)\n", vr.loss, vr.acc, vr.n, o.val_split);
  if (logf)
    fclose (logf);
  clar_mel_free (mel);
  for (int i = 0; mels_t && i < n_mel_t; i++)
    clar_mel_free (mels_t[i]);
  free (mels_t);
  clar_net_free (net);
  clar_dataset_free (&ds);
  clar_dataset_free (&val);
  clar_model_unref (init);
  free (vwin);
  free (ema);
  free (cur);
  free (row_fixed);
  free (views); free (mels); free (dz); free (dl); free (labels1); free (labels2); free (fgroup);
  free (fexempt); free (fexempt_cls);
  free (mix_with); free (mix_draw); free (mix_lab); free (mix_lam); free (mix_buf);
  g_free (ckpt); g_free (model_path); g_free (log_path); g_free (cache); g_free (cmdline);
  return stop_signal ? 128 + stop_signal : 0;
}
