/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The trainable network of clar-train: encoder (inference layer list with a
 * train-mode batch-norm after every conv), projection head, cosine
 * classifier; forward over the shared primitives of src/layers.h, backward
 * over src/train/backward.h, and the one-call training step. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "layers.h"
#include "backward.h"
#include "nn-private.h"
#include "threads.h"

/* Records the failure in net->error (and err) and returns code. */
static int
net_fail (clar_net *net, clar_error *err, int code, const char *fmt, ...)
#if defined(__GNUC__)
  __attribute__((format(printf, 4, 5)))
#endif
  ;

static int
net_fail (clar_net *net, clar_error *err, int code, const char *fmt, ...)
{
  char msg[CLAR_ERROR_MESSAGE_SIZE];
  va_list ap;
  va_start (ap, fmt);
  vsnprintf (msg, sizeof msg, fmt, ap);
  va_end (ap);
  if (net)
    clar_set_error (&net->error, code, "%s", msg);
  return clar_set_error (err, code, "%s", msg);
}

void
clar_train_set_threads (int n)
{
#ifdef _OPENMP
  omp_set_num_threads (n > 0 ? n : omp_get_num_procs ());
#else
  (void) n;
#endif
  /* The chunked convolutions already use every thread; OpenBLAS threads
   * inside them would only compete for the same cores. */
  clar_blas_set_threads (1);
}

clar_net_config
clar_net_default_config (void)
{
  clar_net_config c;
  memset (&c, 0, sizeof c);
  c.architecture = clar_default_architecture ();
  c.mel = clar_mel_default_params ();
  c.window_samples = 16000;
  c.hop_samples = 8000;
  c.proj_dim = 64;
  c.cls_scale = 10.0f;
  c.bn_momentum = 0.1f;
  c.bn_eps = 1e-5f;
  c.seed = 1;
  c.conv_chunk = 8;
  c.conv_mode = CLAR_CONV_PER_SAMPLE;
  return c;
}

/* splitmix64 (Steele et al. 2014) and Box-Muller for initialisation. */
static uint64_t
rng_next (uint64_t *s)
{
  uint64_t z = (*s += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

static float
rng_gauss (uint64_t *s)
{
  double u = ((rng_next (s) >> 11) + 0.5) * (1.0 / 9007199254740992.0);
  double v = ((rng_next (s) >> 11) + 0.5) * (1.0 / 9007199254740992.0);
  return (float) (sqrt (-2.0 * log (u)) * cos (6.283185307179586 * v));
}

static clar_param *
add_param (clar_net *net, const char *name, size_t n, int decay)
{
  clar_param *p;
  /* Capacity is reserved in clar_net_new so that clar_param pointers held
   * by layers stay valid. */
  if (net->n_params == net->cap_params || n == 0)
    return NULL;
  p = &net->params[net->n_params++];
  snprintf (p->name, sizeof p->name, "%s", name);
  p->n = n;
  p->decay = decay;
  p->w = calloc (n, sizeof (float));
  p->g = calloc (n, sizeof (float));
  p->m = calloc (n, sizeof (float));
  p->v = calloc (n, sizeof (float));
  if (!p->w || !p->g || !p->m || !p->v)
    return NULL;
  return p;
}

/* He et al. 2015 ("Delving deep into rectifiers"): N(0, 2 / fan_in). */
static void
init_he (clar_param *p, size_t fan_in, uint64_t *seed)
{
  float sd = (float) sqrt (2.0 / (double) fan_in);
  for (size_t i = 0; i < p->n; i++)
    p->w[i] = sd * rng_gauss (seed);
}

void
clar_net_free (clar_net *net)
{
  if (!net)
    return;
  for (size_t i = 0; i < net->n_params; i++) {
    free (net->params[i].w);
    free (net->params[i].g);
    free (net->params[i].m);
    free (net->params[i].v);
  }
  for (size_t i = 0; net->L && i < net->nL; i++) {
    clar_tlayer *t = &net->L[i];
    if (t->owns_y)
      free (t->y);
    if (t->owns_xhat)
      free (t->xhat);
    free (t->argmax);
    free (t->run_mean);
    free (t->run_var);
    free (t->bmean);
    free (t->bvar);
    free (t->inv_std);
  }
  if (net->class_names)
    for (int k = 0; k < net->K; k++)
      free (net->class_names[k]);
  free (net->class_names);
  free (net->params);
  free (net->L);
  free (net->arch);
  free (net->scratch);
  free (net->g0);
  free (net->g1);
  free (net->gskip);
  free (net->h);
  free (net->a1);
  free (net->z);
  free (net->hn);
  free (net->hnorm);
  free (net->wn);
  free (net->wnorm);
  free (net->logits);
  free (net->dh);
  free (net->dtmp);
  free (net->dtmp2);
  free (net->views);
  free (net->dz);
  free (net->dl);
  free (net);
}

const char *
clar_net_last_error (const clar_net *net)
{
  return net ? net->error.message : "no network";
}

static int
add_bn_params (clar_net *net, clar_tlayer *t, const char *prefix)
{
  char name[96];
  snprintf (name, sizeof name, "%s.%s.weight", prefix, t->name);
  t->gamma = add_param (net, name, (size_t) t->in, 0);
  snprintf (name, sizeof name, "%s.%s.bias", prefix, t->name);
  t->beta = add_param (net, name, (size_t) t->in, 0);
  t->run_mean = calloc ((size_t) t->in, sizeof (float));
  t->run_var = malloc ((size_t) t->in * sizeof (float));
  t->bmean = malloc ((size_t) t->in * sizeof (float));
  t->bvar = malloc ((size_t) t->in * sizeof (float));
  t->inv_std = malloc ((size_t) t->in * sizeof (float));
  if (!t->gamma || !t->beta || !t->run_mean || !t->run_var || !t->bmean || !t->bvar
      || !t->inv_std)
    return CLAR_ERR_NO_MEMORY;
  for (int c = 0; c < t->in; c++) {
    t->gamma->w[c] = 1.0f;
    t->run_var[c] = 1.0f;
  }
  return CLAR_OK;
}

clar_net *
clar_net_new (const clar_net_config *cfg, clar_error *err)
{
  clar_net *net;
  clar_layer *ls = NULL;
  size_t n = 0, nbn = 0;
  uint64_t seed;
  char name[96];

  if (!cfg) {
    clar_set_error (err, CLAR_ERR_INVALID_ARGUMENT, "clar_net_new: no configuration");
    return NULL;
  }
  if (clar_mel_params_validate (&cfg->mel, err) != CLAR_OK)
    return NULL;
  if (!cfg->architecture) {
    clar_set_error (err, CLAR_ERR_INVALID_ARGUMENT, "clar_net_new: no architecture");
    return NULL;
  }
  if (cfg->proj_dim < 0 || cfg->proj_dim > 65536 || cfg->n_classes < 0
      || cfg->n_classes > CLAR_LABELS_MAX) {
    clar_set_error (err, CLAR_ERR_INVALID_ARGUMENT,
        "clar_net_new: proj_dim %d or n_classes %d out of range", cfg->proj_dim,
        cfg->n_classes);
    return NULL;
  }
  if (!(cfg->cls_scale > 0.0f && cfg->cls_scale < 1e4f) || !(cfg->bn_eps > 0.0f)
      || !(cfg->bn_momentum >= 0.0f && cfg->bn_momentum <= 1.0f)) {
    clar_set_error (err, CLAR_ERR_INVALID_ARGUMENT,
        "clar_net_new: cls_scale %g, bn_eps %g or bn_momentum %g out of range",
        cfg->cls_scale, cfg->bn_eps, cfg->bn_momentum);
    return NULL;
  }
  if (cfg->conv_chunk < 0 || cfg->conv_chunk > 4096
      || (cfg->conv_mode != CLAR_CONV_PER_SAMPLE && cfg->conv_mode != CLAR_CONV_BATCHED)) {
    clar_set_error (err, CLAR_ERR_INVALID_ARGUMENT,
        "clar_net_new: conv_chunk %d or conv_mode %d invalid", cfg->conv_chunk,
        cfg->conv_mode);
    return NULL;
  }
  if (clar_architecture_parse (cfg->architecture, &ls, &n, err) != CLAR_OK)
    return NULL;
  net = calloc (1, sizeof *net);
  if (!net) {
    free (ls);
    clar_set_error (err, CLAR_ERR_NO_MEMORY, "out of memory");
    return NULL;
  }
  net->cfg = *cfg;
  net->cfg.architecture = NULL;     /* caller's string; net->arch is ours */
  net->cfg.class_names = NULL;
  if (net->cfg.conv_chunk == 0)
    net->cfg.conv_chunk = 8;
  net->arch = strdup (cfg->architecture);
  seed = cfg->seed ? cfg->seed : 1;
  for (size_t i = 0; i < n; i++)
    if (ls[i].op == CLAR_OP_CONV2D || ls[i].op == CLAR_OP_DWCONV2D)
      nbn++;
  net->L = calloc (n + nbn, sizeof (clar_tlayer));
  net->cap_params = 2 * (n + nbn) + 5;
  net->params = calloc (net->cap_params, sizeof (clar_param));
  if (!net->arch || !net->L || !net->params)
    goto oom;
  for (size_t i = 0; i < n; i++) {
    clar_tlayer *t = &net->L[net->nL++];
    t->op = ls[i].op;
    snprintf (t->name, sizeof t->name, "%s", ls[i].name);
    t->in = ls[i].in;
    t->out = ls[i].out;
    t->kernel = ls[i].kernel;
    t->pad = ls[i].pad;
    t->eps = ls[i].eps;
    t->stride = ls[i].stride;
    if (t->op == CLAR_OP_RESIDUAL_ADD) {
      /* Its residual_begin: the nearest unmatched one before it. */
      int open = 0;
      for (size_t j = net->nL - 1; j-- > 0;) {
        if (net->L[j].op == CLAR_OP_RESIDUAL_ADD)
          open++;
        else if (net->L[j].op == CLAR_OP_RESIDUAL_BEGIN && open-- == 0) {
          t->partner = j;
          break;
        }
      }
    }
    if (t->op == CLAR_OP_CONV2D || t->op == CLAR_OP_DWCONV2D) {
      clar_tlayer *bn;
      /* A depthwise filter sees one input channel. */
      size_t fan_in = (size_t) (t->op == CLAR_OP_DWCONV2D ? 1 : t->in) * t->kernel * t->kernel;
      /* No conv bias: the batch-norm after it subtracts any constant; the
       * exported conv gets its bias from folding (or 0 when the layer list
       * has its own batch-norm right after the conv). */
      snprintf (name, sizeof name, "encoder.%s.weight", t->name);
      t->W = add_param (net, name, (size_t) t->out * fan_in, 1);
      if (!t->W)
        goto oom;
      init_he (t->W, fan_in, &seed);
      if (i + 1 < n && ls[i + 1].op == CLAR_OP_BATCHNORM2D)
        continue;
      bn = &net->L[net->nL++];
      bn->op = CLAR_OP_BATCHNORM2D;
      snprintf (bn->name, sizeof bn->name, "%s", t->name);
      bn->in = bn->out = t->out;
      bn->eps = cfg->bn_eps;
      bn->inserted_bn = 1;
      if (add_bn_params (net, bn, "bn"))
        goto oom;
    } else if (t->op == CLAR_OP_BATCHNORM2D) {
      /* An explicit batch-norm of the layer list: trained the same way and
       * exported under its own encoder.NAME.* tensors. */
      t->out = t->in;
      if (add_bn_params (net, t, "encoder"))
        goto oom;
    } else if (t->op == CLAR_OP_LINEAR) {
      snprintf (name, sizeof name, "encoder.%s.weight", t->name);
      t->W = add_param (net, name, (size_t) t->out * t->in, 1);
      snprintf (name, sizeof name, "encoder.%s.bias", t->name);
      t->b = add_param (net, name, (size_t) t->out, 0);
      if (!t->W || !t->b)
        goto oom;
      init_he (t->W, (size_t) t->in, &seed);
    }
  }
  free (ls);
  ls = NULL;
  if (net->nL == 0 || net->L[net->nL - 1].op != CLAR_OP_LINEAR) {
    clar_set_error (err, CLAR_ERR_UNSUPPORTED,
        "clar_net_new: the architecture must end with a linear layer (the embedding)");
    clar_net_free (net);
    return NULL;
  }
  net->D = net->L[net->nL - 1].out;
  net->P = cfg->proj_dim > 0 ? cfg->proj_dim : 64;
  net->K = cfg->n_classes;
  /* Projection head g(h) = W2 relu(W1 h + b1) + b2 (SimCLR, Chen et al.
   * 2020, section 2.1). */
  net->W1 = add_param (net, "head.proj1.weight", (size_t) net->D * net->D, 1);
  net->b1 = add_param (net, "head.proj1.bias", (size_t) net->D, 0);
  net->W2 = add_param (net, "head.proj2.weight", (size_t) net->P * net->D, 1);
  net->b2 = add_param (net, "head.proj2.bias", (size_t) net->P, 0);
  if (!net->W1 || !net->b1 || !net->W2 || !net->b2)
    goto oom;
  init_he (net->W1, (size_t) net->D, &seed);
  init_he (net->W2, (size_t) net->D, &seed);
  if (net->K) {
    /* Cosine classifier; no weight decay: its rows are normalised, so their
     * length does not matter. */
    net->Wc = add_param (net, "head.classifier.weight", (size_t) net->K * net->D, 0);
    net->class_names = calloc ((size_t) net->K, sizeof (char *));
    if (!net->Wc || !net->class_names)
      goto oom;
    for (size_t i = 0; i < net->Wc->n; i++)
      net->Wc->w[i] = rng_gauss (&seed);
    for (int k = 0; k < net->K; k++) {
      char def[32];
      const char *nm = cfg->class_names && cfg->class_names[k] ? cfg->class_names[k] : NULL;
      snprintf (def, sizeof def, "class%d", k);
      if (nm && (!*nm || strlen (nm) >= CLAR_LABEL_NAME_MAX)) {
        clar_set_error (err, CLAR_ERR_INVALID_ARGUMENT,
            "clar_net_new: class name %d is empty or longer than %d bytes", k,
            CLAR_LABEL_NAME_MAX - 1);
        clar_net_free (net);
        return NULL;
      }
      net->class_names[k] = strdup (nm ? nm : def);
      if (!net->class_names[k])
        goto oom;
    }
  }
  return net;

oom:
  free (ls);
  clar_net_free (net);
  clar_set_error (err, CLAR_ERR_NO_MEMORY, "out of memory building the network");
  return NULL;
}

int clar_net_embedding_dim (const clar_net *net) { return net ? net->D : 0; }
int clar_net_proj_dim (const clar_net *net) { return net ? net->P : 0; }
int clar_net_n_classes (const clar_net *net) { return net ? net->K : 0; }
size_t clar_net_n_params (const clar_net *net) { return net ? net->n_params : 0; }

size_t
clar_net_freeze_encoder (clar_net *net, int frozen, long step0)
{
  size_t n = 0;
  for (size_t i = 0; net && i < net->n_params; i++)
    if (strncmp (net->params[i].name, "head.", 5)) {
      net->params[i].frozen = frozen != 0;
      net->params[i].step0 = step0 > 0 ? step0 : 0;
      n++;
    }
  if (net)
    net->encoder_frozen = frozen != 0 && n > 0;
  return n;
}

clar_param *
clar_net_param (clar_net *net, size_t i)
{
  return net && i < net->n_params ? &net->params[i] : NULL;
}

/* Walks the state vector of nn.h (clar_net_state_size): dir 0 copies the
 * net into buf, dir 1 buf into the net; returns the floats visited. */
static size_t
state_walk (clar_net *net, float *buf, int dir)
{
  size_t o = 0;
  for (size_t i = 0; i < net->n_params; i++) {
    clar_param *p = &net->params[i];
    if (buf)
      memcpy (dir ? p->w : buf + o, dir ? buf + o : p->w, p->n * sizeof (float));
    o += p->n;
  }
  for (size_t i = 0; i < net->nL; i++) {
    clar_tlayer *t = &net->L[i];
    if (t->op != CLAR_OP_BATCHNORM2D)
      continue;
    for (int k = 0; k < 2; k++) {
      float *r = k ? t->run_var : t->run_mean;
      if (buf)
        memcpy (dir ? r : buf + o, dir ? buf + o : r, (size_t) t->in * sizeof (float));
      o += (size_t) t->in;
    }
  }
  return o;
}

size_t
clar_net_state_size (const clar_net *net)
{
  return net ? state_walk ((clar_net *) net, NULL, 0) : 0;
}

void
clar_net_state_get (const clar_net *net, float *dst)
{
  if (net && dst)
    state_walk ((clar_net *) net, dst, 0);
}

void
clar_net_state_set (clar_net *net, const float *src)
{
  if (net && src)
    state_walk (net, (float *) src, 1);
}

const float *
clar_net_embeddings_normalised (const clar_net *net)
{
  return net && net->M ? net->hn : NULL;
}

void
clar_net_zero_grad (clar_net *net)
{
  if (!net)
    return;
  for (size_t i = 0; i < net->n_params; i++)
    memset (net->params[i].g, 0, net->params[i].n * sizeof (float));
}

static size_t
shape_n (clar_shape s)
{
  return (size_t) s.c * s.h * s.w;
}

static int
grow (float **p, size_t n)
{
  float *q = realloc (*p, (n ? n : 1) * sizeof (float));
  if (!q)
    return -1;
  *p = q;
  return 0;
}

/* Threads for the chunk loop of the convolutions. A multi-threaded OpenBLAS
 * called from several OpenMP threads at once would put n x m threads on the
 * cores; with one, the chunks run in sequence and OpenBLAS parallelises each
 * SGEMM instead (clar_train_set_threads picks the measured faster split). */
static int
conv_threads (void)
{
  clar_blas_report r;
  clar_blas_inspect (&r);
  return r.n_threads > 1 ? 1 : clar_train_max_threads ();
}

/* With a multi-threaded OpenBLAS the OpenMP loops of a call run on the
 * calling thread only: OpenBLAS's workers keep spinning after each SGEMM and
 * OpenMP threads next to them made a step 1.5x slower than either alone
 * (default architecture, 64 views, 2 cores: 2 OpenMP + 2 OpenBLAS threads
 * 221-271 views/s, 1 + 2: 382-411). Sets the calling thread's OpenMP
 * thread count (an ICV of this thread only) and returns the old one. */
static int
enter_call (void)
{
  int saved = clar_train_max_threads ();
#ifdef _OPENMP
  if (saved > 1 && conv_threads () == 1)
    omp_set_num_threads (1);
#endif
  return saved;
}

static void
leave_call (int saved)
{
#ifdef _OPENMP
  if (clar_train_max_threads () != saved)
    omp_set_num_threads (saved);
#else
  (void) saved;
#endif
}

/* Scratch of the convolutions for M samples with the current thread split
 * (which the caller may change between calls). */
static int
ensure_scratch (clar_net *net, int M)
{
  size_t need = 1;
  net->conv_threads = conv_threads ();
  for (size_t i = 0; i < net->nL; i++) {
    const clar_tlayer *t = &net->L[i];
    if (t->op == CLAR_OP_CONV2D) {
      size_t s = clar_conv2d_train_scratch (M, t->sin.c, t->sin.h, t->sin.w, t->out,
          t->kernel, t->pad, net->cfg.conv_chunk, net->conv_threads,
          (clar_conv_mode) net->cfg.conv_mode);
      if (s > need)
        need = s;
    }
  }
  if (need > net->scratch_n) {
    if (grow (&net->scratch, need))
      return CLAR_ERR_NO_MEMORY;
    net->scratch_n = need;
  }
  return CLAR_OK;
}

/* Shapes and buffers for M inputs of T frames. A ReLU works in place on the
 * previous output (no backward pass needs the pre-ReLU values: the ReLU's
 * own mask is y > 0, and no layer's backward reads its own output), and a
 * batch-norm after a conv keeps xhat in the conv output it replaces (the
 * conv's backward needs its input, not its output). */
static int
prepare (clar_net *net, int M, int T)
{
  clar_shape s = { 1, net->cfg.mel.n_mels, T, 0 }, *shapes;
  clar_layer *spec;
  size_t maxn = shape_n (s);
  int depth = 0, max_depth = 0;
  if (M == net->sized_M && T == net->sized_T)
    return ensure_scratch (net, M);
  net->sized_M = net->sized_T = 0;
  /* Shapes of the whole list at once: a residual_add checks its block's
   * output against the input of its residual_begin. */
  spec = calloc (net->nL, sizeof *spec);
  shapes = calloc (net->nL, sizeof *shapes);
  if (!spec || !shapes) {
    free (spec);
    free (shapes);
    return CLAR_ERR_NO_MEMORY;
  }
  for (size_t i = 0; i < net->nL; i++) {
    const clar_tlayer *t = &net->L[i];
    spec[i].op = t->op;
    spec[i].in = t->in;
    spec[i].out = t->out;
    spec[i].kernel = t->kernel;
    spec[i].pad = t->pad;
    spec[i].stride = t->stride;
  }
  {
    int rc = clar_layers_infer_shapes (spec, net->nL, s, shapes);
    free (spec);
    if (rc != CLAR_OK) {
      free (shapes);
      return net_fail (net, NULL, CLAR_ERR_INPUT_TOO_SHORT,
          "%d frames x %d bands are too few for the layer list (or its residual blocks "
          "change shape)", T, net->cfg.mel.n_mels);
    }
  }
  for (size_t i = 0; i < net->nL; i++) {
    clar_tlayer *t = &net->L[i];
    size_t nout;
    t->sin = s;
    t->sout = shapes[i];
    s = t->sout;
    nout = (size_t) M * shape_n (s);
    if (shape_n (s) > maxn)
      maxn = shape_n (s);
    if (t->op == CLAR_OP_RESIDUAL_BEGIN && ++depth > max_depth)
      max_depth = depth;
    else if (t->op == CLAR_OP_RESIDUAL_ADD)
      depth--;
    if (t->op == CLAR_OP_RESIDUAL_BEGIN) {
      /* Passes its input on (forward sets y); the block's first layer reads
       * it and its residual_add adds it back. */
      if (t->owns_y)
        free (t->y);
      t->owns_y = 0;
      t->y = NULL;
    } else if (t->op == CLAR_OP_RELU && i > 0 && net->L[i - 1].op != CLAR_OP_RESIDUAL_BEGIN) {
      /* (Not right after a residual_begin: in place, it would change the
       * activation its residual_add adds back.) */
      if (t->owns_y)
        free (t->y);
      t->owns_y = 0;
      t->y = net->L[i - 1].y;
    } else {
      if (!t->owns_y)
        t->y = NULL;
      t->owns_y = 1;
      if (grow (&t->y, nout)) {
        free (shapes);
        return CLAR_ERR_NO_MEMORY;
      }
    }
    if (t->op == CLAR_OP_MAXPOOL2D) {
      int32_t *a = realloc (t->argmax, nout * sizeof (int32_t));
      if (!a) {
        free (shapes);
        return CLAR_ERR_NO_MEMORY;
      }
      t->argmax = a;
    }
    if (t->op == CLAR_OP_BATCHNORM2D) {
      if (i > 0 && (net->L[i - 1].op == CLAR_OP_CONV2D || net->L[i - 1].op == CLAR_OP_DWCONV2D)) {
        if (t->owns_xhat)
          free (t->xhat);
        t->owns_xhat = 0;
        t->xhat = net->L[i - 1].y;
      } else {
        if (!t->owns_xhat)
          t->xhat = NULL;
        t->owns_xhat = 1;
        if (grow (&t->xhat, nout)) {
          free (shapes);
          return CLAR_ERR_NO_MEMORY;
        }
      }
    }
  }
  free (shapes);
  if (grow (&net->g0, (size_t) M * maxn) || grow (&net->g1, (size_t) M * maxn))
    return CLAR_ERR_NO_MEMORY;
  net->skip_depth = max_depth;
  net->gskip_stride = (size_t) M * maxn;
  if (max_depth && grow (&net->gskip, (size_t) max_depth * net->gskip_stride))
    return CLAR_ERR_NO_MEMORY;
  {
    size_t D = (size_t) net->D, mD = (size_t) M * D, K = (size_t) (net->K ? net->K : 1);
    size_t big = (size_t) (M > (int) K ? M : (int) K) * D;
    if (grow (&net->h, mD) || grow (&net->a1, mD) || grow (&net->z, (size_t) M * net->P)
        || grow (&net->hn, mD) || grow (&net->hnorm, (size_t) M)
        || grow (&net->wn, K * D) || grow (&net->wnorm, K)
        || grow (&net->logits, (size_t) M * K) || grow (&net->dh, mD)
        || grow (&net->dtmp, mD) || grow (&net->dtmp2, big))
      return CLAR_ERR_NO_MEMORY;
  }
  if (ensure_scratch (net, M))
    return CLAR_ERR_NO_MEMORY;
  net->sized_M = M;
  net->sized_T = T;
  return CLAR_OK;
}

/* Pooling primitives of layers.h, one channel plane per iteration in
 * parallel (the planes are independent). */
static void
maxpool_forward (const float *x, int planes, int H, int W, int k, float *y,
                 int32_t *argmax)
{
  const size_t pin = (size_t) H * W, pout = (size_t) clar_pool_out (H, k) * clar_pool_out (W, k);
#pragma omp parallel for schedule(static)
  for (int p = 0; p < planes; p++)
    clar_maxpool2d_forward (x + p * pin, 1, 1, H, W, k, y + p * pout, argmax + p * pout);
}

static void
avgpool_forward (const float *x, int planes, int H, int W, int k, float *y)
{
  const size_t pin = (size_t) H * W, pout = (size_t) clar_pool_out (H, k) * clar_pool_out (W, k);
#pragma omp parallel for schedule(static)
  for (int p = 0; p < planes; p++)
    clar_avgpool2d_forward (x + p * pin, 1, 1, H, W, k, y + p * pout);
}

/* Depthwise conv of layers.h (no bias: the batch-norm after it has one),
 * one channel plane per iteration in parallel. */
static void
dwconv_forward (const float *x, int N, int C, int H, int W, const float *w, int k,
                int pad, int stride, float *y)
{
  const int Ho = clar_dwconv_out (H, k, pad, stride), Wo = clar_dwconv_out (W, k, pad, stride);
  const size_t pin = (size_t) H * W, pout = (size_t) Ho * Wo;
  const long planes = (long) N * C;
#pragma omp parallel for schedule(static)
  for (long p = 0; p < planes; p++)
    clar_dwconv2d_forward (x + p * pin, 1, 1, H, W, w + (size_t) (p % C) * k * k, NULL, k,
        pad, stride, y + p * pout);
}

static int net_forward (clar_net *net, const float *mel, int M, int T, int train,
                        const float **h_out, const float **z_out, const float **logits_out);
static int net_backward (clar_net *net, const float *dz, const float *dlogits, float *dmel);

int
clar_net_forward (clar_net *net, const float *mel, int M, int T, int train,
                  const float **h_out, const float **z_out, const float **logits_out)
{
  int saved = enter_call (), rc;
  rc = net_forward (net, mel, M, T, train, h_out, z_out, logits_out);
  leave_call (saved);
  return rc;
}

int
clar_net_backward (clar_net *net, const float *dz, const float *dlogits, float *dmel)
{
  int saved = enter_call (), rc;
  rc = net_backward (net, dz, dlogits, dmel);
  leave_call (saved);
  return rc;
}

static int
net_forward (clar_net *net, const float *mel, int M, int T, int train,
             const float **h_out, const float **z_out, const float **logits_out)
{
  const float *x = mel;
  int rc, D, P, K;
  if (!net)
    return CLAR_ERR_INVALID_ARGUMENT;
  if (!mel || M < 1 || T < 1 || M > (1 << 20) || T > (1 << 20))
    return net_fail (net, NULL, CLAR_ERR_INVALID_ARGUMENT,
        "clar_net_forward: %s input (M=%d, T=%d)", mel ? "empty or oversized" : "no", M, T);
  net->M = 0;
  if ((rc = prepare (net, M, T)) != CLAR_OK)
    return rc == CLAR_ERR_NO_MEMORY
        ? net_fail (net, NULL, rc, "out of memory for a batch of %d x %d frames", M, T) : rc;
  D = net->D;
  P = net->P;
  K = net->K;
  net->input = mel;
  net->T = T;
  net->train = train != 0;
  net->fwd_frozen = net->encoder_frozen;
  for (size_t i = 0; i < net->nL; i++) {
    clar_tlayer *t = &net->L[i];
    clar_shape si = t->sin;
    size_t nin = (size_t) M * shape_n (si);
    switch (t->op) {
      case CLAR_OP_CONV2D:
        clar_conv2d_train_forward (x, M, si.c, si.h, si.w, t->W->w, NULL, t->out,
            t->kernel, t->pad, t->y, net->cfg.conv_chunk,
            (clar_conv_mode) net->cfg.conv_mode, net->conv_threads, net->scratch);
        break;
      case CLAR_OP_BATCHNORM2D:
        /* A frozen encoder computes the model's own features (eval-mode
         * batch-norms, running statistics untouched), as a linear probe of
         * a pretrained network does (LP-FT, nn.h). */
        if (net->train && !net->fwd_frozen) {
          /* Running estimates as torch.nn.BatchNorm2d: the unbiased batch
           * variance m/(m-1) var, exponential average with `momentum`. */
          double m = (double) M * si.h * si.w;
          float mom = net->cfg.bn_momentum;
          clar_batchnorm2d_train_forward (x, M, si.c, si.h * si.w, t->gamma->w, t->beta->w,
              t->eps, t->xhat, t->y, t->bmean, t->bvar, t->inv_std);
          for (int c = 0; c < t->in; c++) {
            double uv = m > 1 ? t->bvar[c] * m / (m - 1) : t->bvar[c];
            t->run_mean[c] = (float) ((1 - mom) * t->run_mean[c] + mom * t->bmean[c]);
            t->run_var[c] = (float) ((1 - mom) * t->run_var[c] + mom * uv);
          }
        } else {
          /* Eval mode is exactly the inference primitive. */
          memcpy (t->y, x, nin * sizeof (float));
          clar_batchnorm2d_inference (t->y, M, si.c, si.h * si.w, t->gamma->w, t->beta->w,
              t->run_mean, t->run_var, t->eps);
        }
        break;
      case CLAR_OP_RELU:
        if (t->y != x)
          memcpy (t->y, x, nin * sizeof (float));
        clar_relu_train_forward (t->y, nin);
        break;
      case CLAR_OP_MAXPOOL2D:
        maxpool_forward (x, M * si.c, si.h, si.w, t->kernel, t->y, t->argmax);
        break;
      case CLAR_OP_AVGPOOL2D:
        avgpool_forward (x, M * si.c, si.h, si.w, t->kernel, t->y);
        break;
      case CLAR_OP_GLOBAL_AVG_POOL:
        clar_global_avg_pool_forward (x, M, si.c, si.h, si.w, t->y);
        break;
      case CLAR_OP_LINEAR:
        clar_linear_forward (x, M, t->in, t->W->w, t->b->w, t->out, t->y);
        break;
      case CLAR_OP_DWCONV2D:
        dwconv_forward (x, M, si.c, si.h, si.w, t->W->w, t->kernel, t->pad, t->stride, t->y);
        break;
      case CLAR_OP_RESIDUAL_BEGIN:
        t->y = (float *) x;
        break;
      case CLAR_OP_RESIDUAL_ADD: {
        const float *skip = net->L[t->partner].y;
        float *y = t->y;
#pragma omp parallel for schedule(static)
        for (size_t j = 0; j < nin; j++)
          y[j] = x[j] + skip[j];
        break;
      }
    }
    x = t->y;
  }
  memcpy (net->h, x, (size_t) M * D * sizeof (float));
  clar_l2norm_rows (net->h, M, D, net->hn, net->hnorm);
  /* Projection head; a1 holds relu(W1 h + b1) (its mask is a1 > 0). */
  clar_linear_forward (net->h, M, D, net->W1->w, net->b1->w, D, net->a1);
  clar_relu_forward (net->a1, (size_t) M * D);
  clar_linear_forward (net->a1, M, D, net->W2->w, net->b2->w, P, net->z);
  /* Cosine classifier: logits = s * (h/|h|) . (w_k/|w_k|), the scoring of
   * labels.h, so the exported rows score windows exactly as trained. */
  if (K) {
    clar_l2norm_rows (net->Wc->w, K, D, net->wn, net->wnorm);
    cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasTrans, M, K, D, net->cfg.cls_scale,
        net->hn, D, net->wn, D, 0.0f, net->logits, K);
  }
  net->M = M;
  if (h_out)
    *h_out = net->h;
  if (z_out)
    *z_out = net->z;
  if (logits_out)
    *logits_out = K ? net->logits : NULL;
  return CLAR_OK;
}

static int
net_backward (clar_net *net, const float *dz, const float *dlogits, float *dmel)
{
  int M, D, P, K, rc, depth;
  float *dh, *dy, *dx;
  if (!net)
    return CLAR_ERR_INVALID_ARGUMENT;
  if (!net->M || !net->train)
    return net_fail (net, NULL, CLAR_ERR_INVALID_ARGUMENT,
        "clar_net_backward needs a train-mode forward first");
  if ((rc = ensure_scratch (net, net->M)) != CLAR_OK)
    return net_fail (net, NULL, rc, "out of memory for the convolution workspace");
  M = net->M;
  D = net->D;
  P = net->P;
  K = net->K;
  dh = net->dh;
  memset (dh, 0, (size_t) M * D * sizeof (float));
  if (dz) {
    float *dr1 = net->dtmp, *dh1 = net->dtmp2;
    clar_linear_backward (net->a1, dz, M, D, P, net->W2->w, net->W2->g, net->b2->g, dr1);
    clar_relu_backward (net->a1, dr1, (size_t) M * D, dr1);
    clar_linear_backward (net->h, dr1, M, D, D, net->W1->w, net->W1->g, net->b1->g, dh1);
    for (size_t i = 0; i < (size_t) M * D; i++)
      dh[i] += dh1[i];
  }
  if (dlogits && K) {
    /* logits = s hn wn^T: d hn = s dL wn, d wn = s dL^T hn, then through
     * both normalisations. */
    float *dhn = net->dtmp, *dwn = net->dtmp2, s = net->cfg.cls_scale;
    cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasNoTrans, M, D, K, s, dlogits, K,
        net->wn, D, 0.0f, dhn, D);
    cblas_sgemm (CblasRowMajor, CblasTrans, CblasNoTrans, K, D, M, s, dlogits, K,
        net->hn, D, 0.0f, dwn, D);
    clar_l2norm_rows_backward (net->hn, net->hnorm, dhn, M, D, dh);
    clar_l2norm_rows_backward (net->wn, net->wnorm, dwn, K, D, net->Wc->g);
  }
  if (net->fwd_frozen) {
    /* The encoder ran in eval mode and does not learn: its gradients are
     * left as they are (zero after clar_net_zero_grad), which saves about
     * two thirds of a training step. */
    if (dmel)
      return net_fail (net, NULL, CLAR_ERR_INVALID_ARGUMENT,
          "clar_net_backward: no input gradient through a frozen encoder");
    return CLAR_OK;
  }
  /* Encoder, last layer first; dy is the gradient of the layer's output. */
  dy = net->g0;
  dx = net->g1;
  memcpy (dy, dh, (size_t) M * D * sizeof (float));
  depth = 0;
  for (size_t li = net->nL; li-- > 0;) {
    clar_tlayer *t = &net->L[li];
    const float *x = li ? net->L[li - 1].y : net->input;
    clar_shape si = t->sin, so = t->sout;
    int need_dx = li > 0 || dmel;
    switch (t->op) {
      case CLAR_OP_LINEAR:
        clar_linear_backward (x, dy, M, t->in, t->out, t->W->w, t->W->g, t->b->g,
            need_dx ? dx : NULL);
        break;
      case CLAR_OP_GLOBAL_AVG_POOL:
        clar_global_avg_pool_backward (dy, M, si.c, si.h, si.w, dx);
        break;
      case CLAR_OP_MAXPOOL2D:
        clar_maxpool2d_backward (dy, t->argmax, M, si.c, si.h, si.w, t->kernel, dx);
        break;
      case CLAR_OP_AVGPOOL2D:
        clar_avgpool2d_backward (dy, M, si.c, si.h, si.w, t->kernel, dx);
        break;
      case CLAR_OP_RELU:
        clar_relu_backward (t->y, dy, (size_t) M * shape_n (so), dx);
        break;
      case CLAR_OP_BATCHNORM2D:
        clar_batchnorm2d_backward (dy, t->xhat, t->gamma->w, t->inv_std, M, si.c,
            si.h * si.w, t->gamma->g, t->beta->g, need_dx ? dx : NULL);
        break;
      case CLAR_OP_CONV2D:
        clar_conv2d_backward (x, dy, M, si.c, si.h, si.w, t->W->w, t->out, t->kernel,
            t->pad, t->W->g, NULL, need_dx ? dx : NULL, net->cfg.conv_chunk,
            (clar_conv_mode) net->cfg.conv_mode, net->conv_threads, net->scratch);
        break;
      case CLAR_OP_DWCONV2D:
        clar_dwconv2d_backward (x, dy, M, si.c, si.h, si.w, t->W->w, t->kernel, t->pad,
            t->stride, t->W->g, NULL, need_dx ? dx : NULL);
        break;
      case CLAR_OP_RESIDUAL_ADD: {
        /* y = block(x_begin) + x_begin: the gradient goes both into the
         * block (dx) and, kept until its residual_begin, around it. */
        size_t n = (size_t) M * shape_n (so);
        memcpy (net->gskip + (size_t) depth++ * net->gskip_stride, dy, n * sizeof (float));
        memcpy (dx, dy, n * sizeof (float));
        break;
      }
      case CLAR_OP_RESIDUAL_BEGIN: {
        const float *gs = net->gskip + (size_t) --depth * net->gskip_stride;
        size_t n = (size_t) M * shape_n (so);
        if (need_dx) {
#pragma omp parallel for schedule(static)
          for (size_t j = 0; j < n; j++)
            dx[j] = dy[j] + gs[j];
        }
        break;
      }
    }
    {
      float *tswap = dy;
      dy = dx;
      dx = tswap;
    }
  }
  if (dmel)
    memcpy (dmel, dy, (size_t) M * net->cfg.mel.n_mels * net->T * sizeof (float));
  return CLAR_OK;
}

clar_train_config
clar_train_default_config (void)
{
  clar_train_config c;
  c.contrastive = CLAR_CONTRASTIVE_NTXENT;
  c.tau = 0.5f;
  c.ce_weight = 1.0f;
  c.lr = 1e-3f;
  return c;
}

int
clar_train_step (clar_net *net, clar_optim *opt, const float *views_a,
                 const float *views_b, const int *labels, int N, int T,
                 const clar_train_config *cfg, clar_train_losses *out,
                 clar_error *err)
{
  size_t per;
  const float *mel, *z, *logits;
  double lc = 0, lce = 0, loss;
  int rc, K, P, use_ce, n_lab = 0;
  if (!net)
    return clar_set_error (err, CLAR_ERR_INVALID_ARGUMENT, "clar_train_step: no network");
  if (!opt || !views_a || !views_b || !labels || !cfg || N < 1 || T < 1 || N > (1 << 19))
    return net_fail (net, err, CLAR_ERR_INVALID_ARGUMENT,
        "clar_train_step: missing argument or N=%d, T=%d out of range", N, T);
  if (cfg->contrastive != CLAR_CONTRASTIVE_NTXENT && cfg->contrastive != CLAR_CONTRASTIVE_SUPCON
      && cfg->contrastive != CLAR_CONTRASTIVE_NONE)
    return net_fail (net, err, CLAR_ERR_INVALID_ARGUMENT,
        "clar_train_step: unknown contrastive loss %d", (int) cfg->contrastive);
  if (!(cfg->tau > 0.0f) || !(cfg->ce_weight >= 0.0f) || !isfinite (cfg->lr))
    return net_fail (net, err, CLAR_ERR_INVALID_ARGUMENT,
        "clar_train_step: tau %g must be > 0, ce_weight %g >= 0, lr %g finite", cfg->tau,
        cfg->ce_weight, cfg->lr);
  K = net->K;
  P = net->P;
  for (int i = 0; i < N; i++) {
    if (labels[i] >= 0 && K > 0 && labels[i] >= K)
      return net_fail (net, err, CLAR_ERR_INVALID_ARGUMENT,
          "clar_train_step: label %d of clip %d is not below the %d classes", labels[i], i, K);
    n_lab += labels[i] >= 0;
  }
  use_ce = K > 0 && cfg->ce_weight > 0.0f;
  if (cfg->contrastive == CLAR_CONTRASTIVE_NONE && !use_ce)
    return net_fail (net, err, CLAR_ERR_INVALID_ARGUMENT,
        "clar_train_step: no contrastive loss and no classifier term: nothing to train");
  per = (size_t) N * net->cfg.mel.n_mels * (size_t) T;
  if (views_b == views_a + per) {
    mel = views_a;
  } else {
    if (2 * per > net->views_n) {
      if (grow (&net->views, 2 * per))
        return net_fail (net, err, CLAR_ERR_NO_MEMORY, "out of memory for %d views", 2 * N);
      net->views_n = 2 * per;
    }
    memcpy (net->views, views_a, per * sizeof (float));
    memcpy (net->views + per, views_b, per * sizeof (float));
    mel = net->views;
  }
  if ((rc = clar_net_forward (net, mel, 2 * N, T, 1, NULL, &z, &logits)) != CLAR_OK)
    return clar_set_error (err, rc, "%s", net->error.message);
  if (grow (&net->dz, (size_t) 2 * N * P) || grow (&net->dl, (size_t) 2 * N * (K ? K : 1)))
    return net_fail (net, err, CLAR_ERR_NO_MEMORY, "out of memory for the loss gradients");
  loss = clar_loss_hybrid (z, logits, N, P, use_ce ? K : 0, labels, cfg->contrastive, cfg->tau,
      cfg->ce_weight, net->dz, net->dl, &lc, &lce);
  if (!isfinite (loss))
    return net_fail (net, err, CLAR_ERR_NONFINITE,
        "loss is not finite (contrastive %g, cross-entropy %g): parameters left unchanged",
        lc, lce);
  clar_net_zero_grad (net);
  if ((rc = clar_net_backward (net, cfg->contrastive != CLAR_CONTRASTIVE_NONE ? net->dz : NULL,
          use_ce ? net->dl : NULL, NULL)) != CLAR_OK)
    return clar_set_error (err, rc, "%s", net->error.message);
  clar_optim_step (opt, net, cfg->lr);
  if (out) {
    out->total = loss;
    out->contrastive = lc;
    out->ce = lce;
    out->n_labelled = n_lab;
  }
  return CLAR_OK;
}
