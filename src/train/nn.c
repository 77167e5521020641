/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Trainable network: forward (src/layers.h), backward, BN, heads. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "layers.h"
#include "model-private.h"
#include "nn.h"

typedef struct {
  clar_op op;
  char name[64];
  int in, out, kernel, pad;
  clar_param *W, *b;               /* conv (W only), linear (W, b) */
  clar_param *gamma, *beta;        /* batchnorm */
  float *run_mean, *run_var;
  clar_shape sin, sout;            /* per-sample shapes */
  float *y;                        /* output activation [M x out] */
  int32_t *argmax;                 /* maxpool */
  float *xhat, *inv_std;           /* batchnorm */
} tlayer;

struct clar_net {
  clar_net_config cfg;
  char *arch;                      /* inference layer list (export) */
  char **class_names;
  tlayer *L;
  size_t nL;
  int D, P, K;
  clar_param *params;
  size_t n_params, cap_params;
  /* heads */
  clar_param *W1, *b1, *W2, *b2, *Wc;
  /* per-batch buffers */
  int M, T, sized_M, sized_T;
  const float *input;
  float *scratch, *dscratch;       /* im2col / col gradients */
  size_t scratch_n;
  float *g0, *g1;                  /* ping-pong gradient buffers */
  size_t gbuf_n;
  float *h, *a1, *r1, *z, *hn, *wn, *logits, *dh, *tmp;
  float *wnorm;                    /* classifier row norms */
  float *hnorm;
};

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
  return c;
}

/* splitmix64 + Box-Muller for initialisation. */
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
  if (net->n_params == net->cap_params) {
    /* Fixed capacity reserved in clar_net_new: pointers stay valid. */
    return NULL;
  }
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
  for (size_t i = 0; i < net->nL; i++) {
    free (net->L[i].y);
    free (net->L[i].argmax);
    free (net->L[i].xhat);
    free (net->L[i].inv_std);
    free (net->L[i].run_mean);
    free (net->L[i].run_var);
  }
  if (net->class_names)
    for (int k = 0; k < net->K; k++)
      free (net->class_names[k]);
  free (net->class_names);
  free (net->params);
  free (net->L);
  free (net->arch);
  free (net->scratch);
  free (net->dscratch);
  free (net->g0);
  free (net->g1);
  free (net->h); free (net->a1); free (net->r1); free (net->z);
  free (net->hn); free (net->wn); free (net->logits); free (net->dh); free (net->tmp);
  free (net->wnorm); free (net->hnorm);
  free (net);
}

clar_net *
clar_net_new (const clar_net_config *cfg, clar_error *err)
{
  clar_net *net;
  clar_layer *ls = NULL;
  size_t n = 0, nbn = 0;
  uint64_t seed;
  char name[96];

  if (!cfg || clar_mel_params_validate (&cfg->mel, err) != CLAR_OK) {
    if (!cfg)
      clar_set_error (err, CLAR_ERR_INVALID_ARGUMENT, "no configuration");
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
  net->arch = strdup (cfg->architecture);
  seed = cfg->seed ? cfg->seed : 1;
  for (size_t i = 0; i < n; i++)
    if (ls[i].op == CLAR_OP_CONV2D)
      nbn++;
  net->L = calloc (n + nbn, sizeof (tlayer));
  net->cap_params = 4 * (n + nbn) + 8;
  net->params = calloc (net->cap_params, sizeof (clar_param));
  if (!net->arch || !net->L || !net->params) {
    free (ls);
    clar_net_free (net);
    clar_set_error (err, CLAR_ERR_NO_MEMORY, "out of memory");
    return NULL;
  }
  /* Training layers: every conv gets a batch-norm right after it; an explicit
   * batchnorm2d in the architecture is trained the same way. */
  for (size_t i = 0; i < n; i++) {
    tlayer *t = &net->L[net->nL++];
    t->op = ls[i].op;
    snprintf (t->name, sizeof t->name, "%s", ls[i].name);
    t->in = ls[i].in;
    t->out = ls[i].out;
    t->kernel = ls[i].kernel;
    t->pad = ls[i].pad;
    if (t->op == CLAR_OP_CONV2D) {
      tlayer *bn;
      snprintf (name, sizeof name, "encoder.%s.weight", t->name);
      t->W = add_param (net, name, (size_t) t->out * t->in * t->kernel * t->kernel, 1);
      if (!t->W) goto oom;
      init_he (t->W, (size_t) t->in * t->kernel * t->kernel, &seed);
      bn = &net->L[net->nL++];
      bn->op = CLAR_OP_BATCHNORM2D;
      snprintf (bn->name, sizeof bn->name, "%s", t->name);   /* folded into the conv */
      bn->in = bn->out = t->out;
    } else if (t->op == CLAR_OP_LINEAR) {
      snprintf (name, sizeof name, "encoder.%s.weight", t->name);
      t->W = add_param (net, name, (size_t) t->out * t->in, 1);
      snprintf (name, sizeof name, "encoder.%s.bias", t->name);
      t->b = add_param (net, name, (size_t) t->out, 0);
      if (!t->W || !t->b) goto oom;
      init_he (t->W, (size_t) t->in, &seed);
      net->D = t->out;
    }
  }
  for (size_t i = 0; i < net->nL; i++) {
    tlayer *t = &net->L[i];
    if (t->op != CLAR_OP_BATCHNORM2D)
      continue;
    snprintf (name, sizeof name, "bn.%s.weight", t->name);
    t->gamma = add_param (net, name, (size_t) t->in, 0);
    snprintf (name, sizeof name, "bn.%s.bias", t->name);
    t->beta = add_param (net, name, (size_t) t->in, 0);
    t->run_mean = calloc ((size_t) t->in, sizeof (float));
    t->run_var = malloc ((size_t) t->in * sizeof (float));
    if (!t->gamma || !t->beta || !t->run_mean || !t->run_var) goto oom;
    for (int c = 0; c < t->in; c++) {
      t->gamma->w[c] = 1.0f;
      t->run_var[c] = 1.0f;
    }
  }
  free (ls);
  ls = NULL;
  if (net->D <= 0) {
    clar_set_error (err, CLAR_ERR_BAD_METADATA, "the architecture must end with a linear layer");
    clar_net_free (net);
    return NULL;
  }
  net->P = cfg->proj_dim > 0 ? cfg->proj_dim : 64;
  net->K = cfg->n_classes > 0 ? cfg->n_classes : 0;
  net->W1 = add_param (net, "head.proj1.weight", (size_t) net->D * net->D, 1);
  net->b1 = add_param (net, "head.proj1.bias", (size_t) net->D, 0);
  net->W2 = add_param (net, "head.proj2.weight", (size_t) net->P * net->D, 1);
  net->b2 = add_param (net, "head.proj2.bias", (size_t) net->P, 0);
  if (!net->W1 || !net->b1 || !net->W2 || !net->b2) goto oom;
  init_he (net->W1, (size_t) net->D, &seed);
  init_he (net->W2, (size_t) net->D, &seed);
  if (net->K) {
    net->Wc = add_param (net, "head.classifier.weight", (size_t) net->K * net->D, 0);
    net->class_names = calloc ((size_t) net->K, sizeof (char *));
    if (!net->Wc || !net->class_names) goto oom;
    for (size_t i = 0; i < net->Wc->n; i++)
      net->Wc->w[i] = rng_gauss (&seed);
    for (int k = 0; k < net->K; k++) {
      char def[32];
      snprintf (def, sizeof def, "class%d", k);
      net->class_names[k] = strdup (cfg->class_names && cfg->class_names[k] ? cfg->class_names[k] : def);
      if (!net->class_names[k]) goto oom;
    }
  }
  return net;

oom:
  free (ls);
  clar_net_free (net);
  clar_set_error (err, CLAR_ERR_NO_MEMORY, "out of memory building the network");
  return NULL;
}

int clar_net_embedding_dim (const clar_net *net) { return net->D; }
int clar_net_proj_dim (const clar_net *net) { return net->P; }
int clar_net_n_classes (const clar_net *net) { return net->K; }
size_t clar_net_n_params (const clar_net *net) { return net->n_params; }
clar_param *clar_net_param (clar_net *net, size_t i) { return i < net->n_params ? &net->params[i] : NULL; }

void
clar_net_zero_grad (clar_net *net)
{
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

/* Sizes every buffer for M inputs of T frames. */
static int
prepare (clar_net *net, int M, int T)
{
  clar_shape s = { 1, net->cfg.mel.n_mels, T, 0 };
  size_t maxn = shape_n (s), scratch = 1;
  if (M == net->sized_M && T == net->sized_T)
    return CLAR_OK;
  for (size_t i = 0; i < net->nL; i++) {
    tlayer *t = &net->L[i];
    clar_layer spec;
    memset (&spec, 0, sizeof spec);
    spec.op = t->op;
    spec.in = t->in;
    spec.out = t->out;
    spec.kernel = t->kernel;
    spec.pad = t->pad;
    t->sin = s;
    if (clar_layers_infer_shapes (&spec, 1, s, &t->sout) != CLAR_OK)
      return CLAR_ERR_INPUT_TOO_SHORT;
    s = t->sout;
    if (shape_n (s) > maxn)
      maxn = shape_n (s);
    if (t->op == CLAR_OP_CONV2D) {
      size_t cols = (size_t) t->in * t->kernel * t->kernel * t->sout.h * t->sout.w;
      if (cols > scratch)
        scratch = cols;
    }
    if (grow (&t->y, (size_t) M * shape_n (t->sout)))
      return CLAR_ERR_NO_MEMORY;
    if (t->op == CLAR_OP_MAXPOOL2D) {
      int32_t *a = realloc (t->argmax, (size_t) M * shape_n (t->sout) * sizeof (int32_t));
      if (!a)
        return CLAR_ERR_NO_MEMORY;
      t->argmax = a;
    }
    if (t->op == CLAR_OP_BATCHNORM2D
        && (grow (&t->xhat, (size_t) M * shape_n (t->sout)) || grow (&t->inv_std, (size_t) t->in)))
      return CLAR_ERR_NO_MEMORY;
  }
  if (grow (&net->scratch, scratch) || grow (&net->dscratch, scratch)
      || grow (&net->g0, (size_t) M * maxn) || grow (&net->g1, (size_t) M * maxn))
    return CLAR_ERR_NO_MEMORY;
  net->scratch_n = scratch;
  net->gbuf_n = (size_t) M * maxn;
  {
    size_t D = (size_t) net->D, mD = (size_t) M * D;
    size_t big = mD > (size_t) M * net->P ? mD : (size_t) M * net->P;
    if (net->K && (size_t) M * net->K > big)
      big = (size_t) M * net->K;
    if (grow (&net->h, mD) || grow (&net->a1, mD) || grow (&net->r1, mD)
        || grow (&net->z, (size_t) M * net->P) || grow (&net->hn, mD)
        || grow (&net->wn, (size_t) (net->K ? net->K : 1) * D)
        || grow (&net->logits, (size_t) M * (net->K ? net->K : 1)) || grow (&net->dh, mD)
        || grow (&net->tmp, 2 * mD + (size_t) (net->K ? net->K : 1) * D + (size_t) M * net->P + big) || grow (&net->wnorm, (size_t) (net->K ? net->K : 1))
        || grow (&net->hnorm, (size_t) M))
      return CLAR_ERR_NO_MEMORY;
  }
  net->sized_M = M;
  net->sized_T = T;
  return CLAR_OK;
}

/* Batch-norm over N x HW per channel (Ioffe & Szegedy 2015, Alg. 1). */
static void
bn_forward (tlayer *t, const float *x, int M, int train, float momentum, float eps)
{
  int C = t->in, HW = t->sin.h * t->sin.w;
  for (int c = 0; c < C; c++) {
    double mean, var;
    float inv, g = t->gamma->w[c], b = t->beta->w[c];
    size_t cnt = (size_t) M * HW;
    if (train) {
      double s = 0, ss = 0;
      for (int n = 0; n < M; n++) {
        const float *xp = x + ((size_t) n * C + c) * HW;
        for (int i = 0; i < HW; i++)
          s += xp[i];
      }
      mean = s / cnt;
      for (int n = 0; n < M; n++) {
        const float *xp = x + ((size_t) n * C + c) * HW;
        for (int i = 0; i < HW; i++)
          ss += (xp[i] - mean) * (xp[i] - mean);
      }
      var = ss / cnt;
      /* PyTorch keeps the unbiased variance in the running estimate. */
      t->run_mean[c] = (float) ((1 - momentum) * t->run_mean[c] + momentum * mean);
      t->run_var[c] = (float) ((1 - momentum) * t->run_var[c]
          + momentum * (cnt > 1 ? var * cnt / (cnt - 1) : var));
    } else {
      mean = t->run_mean[c];
      var = t->run_var[c];
    }
    inv = (float) (1.0 / sqrt (var + eps));
    t->inv_std[c] = inv;
    for (int n = 0; n < M; n++) {
      const float *xp = x + ((size_t) n * C + c) * HW;
      float *xh = t->xhat + ((size_t) n * C + c) * HW;
      float *yp = t->y + ((size_t) n * C + c) * HW;
      for (int i = 0; i < HW; i++) {
        xh[i] = (float) ((xp[i] - mean) * inv);
        yp[i] = g * xh[i] + b;
      }
    }
  }
}

/* y = x / |x| per row; norms saved. */
static void
l2norm_rows (const float *x, int M, int D, float *y, float *norms)
{
  for (int i = 0; i < M; i++) {
    double s = 0;
    for (int d = 0; d < D; d++)
      s += (double) x[i * D + d] * x[i * D + d];
    s = sqrt (s) + 1e-12;
    norms[i] = (float) s;
    for (int d = 0; d < D; d++)
      y[i * D + d] = (float) (x[i * D + d] / s);
  }
}

/* dx += (dy - y (y . dy)) / |x| per row. */
static void
l2norm_rows_backward (const float *y, const float *norms, const float *dy,
                      int M, int D, float *dx)
{
  for (int i = 0; i < M; i++) {
    double dot = 0;
    for (int d = 0; d < D; d++)
      dot += (double) y[i * D + d] * dy[i * D + d];
    for (int d = 0; d < D; d++)
      dx[i * D + d] += (float) ((dy[i * D + d] - y[i * D + d] * dot) / norms[i]);
  }
}

int
clar_net_forward (clar_net *net, const float *mel, int M, int T, int train,
                  const float **h_out, const float **z_out, const float **logits_out)
{
  const float *x = mel;
  int rc, D = net->D, P = net->P, K = net->K;
  if (M < 1 || T < 1)
    return CLAR_ERR_INVALID_ARGUMENT;
  if ((rc = prepare (net, M, T)) != CLAR_OK)
    return rc;
  net->input = mel;
  net->M = M;
  net->T = T;
  for (size_t i = 0; i < net->nL; i++) {
    tlayer *t = &net->L[i];
    clar_shape si = t->sin;
    switch (t->op) {
      case CLAR_OP_CONV2D:
        clar_conv2d_forward (x, M, si.c, si.h, si.w, t->W->w, NULL, t->out, t->kernel,
            t->pad, t->y, net->scratch);
        break;
      case CLAR_OP_BATCHNORM2D:
        bn_forward (t, x, M, train, net->cfg.bn_momentum, net->cfg.bn_eps);
        break;
      case CLAR_OP_RELU:
        memcpy (t->y, x, (size_t) M * shape_n (si) * sizeof (float));
        clar_relu_forward (t->y, (size_t) M * shape_n (si));
        break;
      case CLAR_OP_MAXPOOL2D:
        clar_maxpool2d_forward (x, M, si.c, si.h, si.w, t->kernel, t->y, t->argmax);
        break;
      case CLAR_OP_AVGPOOL2D:
        clar_avgpool2d_forward (x, M, si.c, si.h, si.w, t->kernel, t->y);
        break;
      case CLAR_OP_GLOBAL_AVG_POOL:
        clar_global_avg_pool_forward (x, M, si.c, si.h, si.w, t->y);
        break;
      case CLAR_OP_LINEAR:
        clar_linear_forward (x, M, t->in, t->W->w, t->b->w, t->out, t->y);
        break;
    }
    x = t->y;
  }
  memcpy (net->h, x, (size_t) M * D * sizeof (float));
  /* Projection head g(h) = W2 relu(W1 h + b1) + b2. */
  clar_linear_forward (net->h, M, D, net->W1->w, net->b1->w, D, net->a1);
  memcpy (net->r1, net->a1, (size_t) M * D * sizeof (float));
  clar_relu_forward (net->r1, (size_t) M * D);
  clar_linear_forward (net->r1, M, D, net->W2->w, net->b2->w, P, net->z);
  /* Cosine classifier: logits = s * normalize(h) . normalize(Wc)^T. */
  if (K) {
    l2norm_rows (net->h, M, D, net->hn, net->hnorm);
    l2norm_rows (net->Wc->w, K, D, net->wn, net->wnorm);
    cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasTrans, M, K, D, net->cfg.cls_scale,
        net->hn, D, net->wn, D, 0.0f, net->logits, K);
  }
  if (h_out) *h_out = net->h;
  if (z_out) *z_out = net->z;
  if (logits_out) *logits_out = K ? net->logits : NULL;
  return CLAR_OK;
}

/* dW += dY^T X ; db += sum dY ; dX = dY W  (X [M,n_in], W [O,n_in]). */
static void
linear_backward (const float *x, const float *dy, int M, int n_in, int O,
                 const float *W, float *dW, float *db, float *dx)
{
  cblas_sgemm (CblasRowMajor, CblasTrans, CblasNoTrans, O, n_in, M, 1.0f, dy, O, x, n_in,
      1.0f, dW, n_in);
  if (db)
    for (int n = 0; n < M; n++)
      for (int o = 0; o < O; o++)
        db[o] += dy[(size_t) n * O + o];
  if (dx)
    cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasNoTrans, M, n_in, O, 1.0f, dy, O, W, n_in,
        0.0f, dx, n_in);
}

int
clar_net_backward (clar_net *net, const float *dz, const float *dlogits, float *dmel)
{
  int M = net->M, D = net->D, P = net->P, K = net->K;
  float *dh = net->dh, *dy, *dx;
  memset (dh, 0, (size_t) M * D * sizeof (float));
  if (dz) {
    float *dr1 = net->tmp;
    linear_backward (net->r1, dz, M, D, P, net->W2->w, net->W2->g, net->b2->g, dr1);
    for (size_t i = 0; i < (size_t) M * D; i++)
      if (net->a1[i] <= 0.0f)
        dr1[i] = 0.0f;
    /* dh += dA1 W1 (linear_backward writes dx; accumulate through tmp). */
    {
      float *dh1 = net->tmp + (size_t) M * D;
      linear_backward (net->h, dr1, M, D, D, net->W1->w, net->W1->g, net->b1->g, dh1);
      for (size_t i = 0; i < (size_t) M * D; i++)
        dh[i] += dh1[i];
    }
  }
  if (dlogits && K) {
    /* logits = s hn wn^T: d hn = s dL wn ; d wn = s dL^T hn. */
    float *dhn = net->tmp, *dwn = net->tmp + (size_t) M * D;
    float s = net->cfg.cls_scale;
    cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasNoTrans, M, D, K, s, dlogits, K,
        net->wn, D, 0.0f, dhn, D);
    cblas_sgemm (CblasRowMajor, CblasTrans, CblasNoTrans, K, D, M, s, dlogits, K,
        net->hn, D, 0.0f, dwn, D);
    l2norm_rows_backward (net->hn, net->hnorm, dhn, M, D, dh);
    l2norm_rows_backward (net->wn, net->wnorm, dwn, K, D, net->Wc->g);
  }
  /* Encoder, last layer first. dy: gradient of the layer's output. */
  dy = net->g0;
  dx = net->g1;
  memcpy (dy, dh, (size_t) M * D * sizeof (float));
  for (size_t li = net->nL; li-- > 0;) {
    tlayer *t = &net->L[li];
    const float *x = li ? net->L[li - 1].y : net->input;
    clar_shape si = t->sin, so = t->sout;
    size_t nin = shape_n (si), nout = shape_n (so);
    int need_dx = li > 0 || dmel;
    switch (t->op) {
      case CLAR_OP_LINEAR:
        linear_backward (x, dy, M, t->in, t->out, t->W->w, t->W->g, t->b->g, need_dx ? dx : NULL);
        break;
      case CLAR_OP_GLOBAL_AVG_POOL: {
        size_t hw = (size_t) si.h * si.w;
        for (size_t p = 0; p < (size_t) M * si.c; p++)
          for (size_t i = 0; i < hw; i++)
            dx[p * hw + i] = dy[p] / (float) hw;
        break;
      }
      case CLAR_OP_MAXPOOL2D:
        memset (dx, 0, (size_t) M * nin * sizeof (float));
        for (size_t p = 0; p < (size_t) M * si.c; p++)
          for (size_t i = 0; i < (size_t) so.h * so.w; i++)
            dx[p * si.h * si.w + t->argmax[p * so.h * so.w + i]] += dy[p * so.h * so.w + i];
        break;
      case CLAR_OP_AVGPOOL2D: {
        int k = t->kernel;
        memset (dx, 0, (size_t) M * nin * sizeof (float));
        for (size_t p = 0; p < (size_t) M * si.c; p++)
          for (int i = 0; i < so.h; i++)
            for (int j = 0; j < so.w; j++) {
              float g = dy[p * so.h * so.w + (size_t) i * so.w + j] / (float) (k * k);
              for (int a = 0; a < k; a++)
                for (int b = 0; b < k; b++)
                  dx[p * si.h * si.w + (size_t) (i * k + a) * si.w + j * k + b] += g;
            }
        break;
      }
      case CLAR_OP_RELU:
        for (size_t i = 0; i < (size_t) M * nout; i++)
          dx[i] = t->y[i] > 0.0f ? dy[i] : 0.0f;
        break;
      case CLAR_OP_BATCHNORM2D: {
        /* dx = g inv / m (m dy - sum dy - xhat sum(dy xhat)). */
        int C = si.c, HW = si.h * si.w;
        double cnt = (double) M * HW;
        for (int c = 0; c < C; c++) {
          double sdy = 0, sdyx = 0;
          for (int n = 0; n < M; n++) {
            const float *d = dy + ((size_t) n * C + c) * HW;
            const float *xh = t->xhat + ((size_t) n * C + c) * HW;
            for (int i = 0; i < HW; i++) {
              sdy += d[i];
              sdyx += (double) d[i] * xh[i];
            }
          }
          t->gamma->g[c] += (float) sdyx;
          t->beta->g[c] += (float) sdy;
          {
            double f = t->gamma->w[c] * t->inv_std[c] / cnt;
            for (int n = 0; n < M; n++) {
              const float *d = dy + ((size_t) n * C + c) * HW;
              const float *xh = t->xhat + ((size_t) n * C + c) * HW;
              float *o = dx + ((size_t) n * C + c) * HW;
              for (int i = 0; i < HW; i++)
                o[i] = (float) (f * (cnt * d[i] - sdy - xh[i] * sdyx));
            }
          }
        }
        break;
      }
      case CLAR_OP_CONV2D: {
        int K2 = t->in * t->kernel * t->kernel, PP = so.h * so.w;
        for (int n = 0; n < M; n++) {
          const float *xn = x + (size_t) n * nin;
          const float *dyn = dy + (size_t) n * nout;
          clar_im2col (xn, si.c, si.h, si.w, t->kernel, t->pad, net->scratch);
          /* dW[O x K2] += dY[O x PP] cols[K2 x PP]^T */
          cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasTrans, t->out, K2, PP, 1.0f,
              dyn, PP, net->scratch, PP, 1.0f, t->W->g, K2);
          if (need_dx) {
            /* dcols[K2 x PP] = W^T dY; dx = col2im(dcols). */
            cblas_sgemm (CblasRowMajor, CblasTrans, CblasNoTrans, K2, PP, t->out, 1.0f,
                t->W->w, K2, dyn, PP, 0.0f, net->dscratch, PP);
            memset (dx + (size_t) n * nin, 0, nin * sizeof (float));
            clar_col2im (net->dscratch, si.c, si.h, si.w, t->kernel, t->pad, dx + (size_t) n * nin);
          }
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

int
clar_net_export (const clar_net *net, const char *path,
                 const char *const *extra_meta, clar_error *err)
{
  clar_st_writer *w = clar_st_writer_new ();
  int rc;
  char name[128];
  if (!w)
    return clar_set_error (err, CLAR_ERR_NO_MEMORY, "out of memory");
  rc = clar_model_write_header (w, &net->cfg.mel, net->cfg.window_samples,
      net->cfg.hop_samples, (size_t) net->D, net->arch, NULL, NULL);
  for (size_t i = 0; i < net->nL && rc == CLAR_OK; i++) {
    const tlayer *t = &net->L[i];
    if (t->op == CLAR_OP_CONV2D) {
      /* Fold the following batch-norm (running statistics):
       * w' = w g / sqrt(var + eps), b' = beta - mean g / sqrt(var + eps). */
      const tlayer *bn = &net->L[i + 1];
      size_t per = (size_t) t->in * t->kernel * t->kernel;
      size_t shape[4] = { (size_t) t->out, (size_t) t->in, (size_t) t->kernel, (size_t) t->kernel };
      float *wf = malloc (t->W->n * sizeof (float)), *bf = malloc ((size_t) t->out * sizeof (float));
      if (!wf || !bf) {
        free (wf);
        free (bf);
        rc = CLAR_ERR_NO_MEMORY;
        break;
      }
      for (int o = 0; o < t->out; o++) {
        double sc = bn->gamma->w[o] / sqrt ((double) bn->run_var[o] + net->cfg.bn_eps);
        for (size_t j = 0; j < per; j++)
          wf[o * per + j] = (float) (t->W->w[o * per + j] * sc);
        bf[o] = (float) (bn->beta->w[o] - bn->run_mean[o] * sc);
      }
      snprintf (name, sizeof name, "encoder.%s.weight", t->name);
      rc = clar_st_writer_add (w, name, shape, 4, wf);
      snprintf (name, sizeof name, "encoder.%s.bias", t->name);
      if (rc == CLAR_OK)
        rc = clar_st_writer_add (w, name, shape, 1, bf);
      free (wf);
      free (bf);
    } else if (t->op == CLAR_OP_LINEAR) {
      size_t shape[2] = { (size_t) t->out, (size_t) t->in };
      rc = clar_st_writer_add (w, t->W->name, shape, 2, t->W->w);
      if (rc == CLAR_OK)
        rc = clar_st_writer_add (w, t->b->name, shape, 1, t->b->w);
    }
  }
  if (rc == CLAR_OK && net->K) {
    clar_labels *l = clar_labels_new ((size_t) net->K, (size_t) net->D,
        (const char *const *) net->class_names, net->Wc->w, net->cfg.cls_scale, err);
    if (!l) {
      clar_st_writer_free (w);
      return err ? err->code : CLAR_ERR_INVALID_ARGUMENT;
    }
    rc = clar_labels_to_writer (l, w);
    clar_labels_unref (l);
  }
  for (size_t i = 0; extra_meta && extra_meta[i] && extra_meta[i + 1] && rc == CLAR_OK; i += 2)
    rc = clar_st_writer_set_metadata (w, extra_meta[i], extra_meta[i + 1]);
  if (rc != CLAR_OK) {
    clar_st_writer_free (w);
    return clar_set_error (err, rc, "cannot serialise the model: %s", clar_strerror (rc));
  }
  rc = clar_st_writer_save (w, path, err);
  clar_st_writer_free (w);
  return rc;
}

int
clar_net_save_checkpoint (const clar_net *net, const clar_adam *opt,
                          const float *user, size_t n_user, const char *path,
                          clar_error *err)
{
  clar_st_writer *w = clar_st_writer_new ();
  char name[160], v[64];
  int rc = CLAR_OK;
  if (!w)
    return clar_set_error (err, CLAR_ERR_NO_MEMORY, "out of memory");
  for (size_t i = 0; i < net->n_params && rc == CLAR_OK; i++) {
    const clar_param *p = &net->params[i];
    size_t s = p->n;
    rc = clar_st_writer_add (w, p->name, &s, 1, p->w);
    snprintf (name, sizeof name, "adam_m.%s", p->name);
    if (rc == CLAR_OK) rc = clar_st_writer_add (w, name, &s, 1, p->m);
    snprintf (name, sizeof name, "adam_v.%s", p->name);
    if (rc == CLAR_OK) rc = clar_st_writer_add (w, name, &s, 1, p->v);
  }
  for (size_t i = 0; i < net->nL && rc == CLAR_OK; i++) {
    const tlayer *t = &net->L[i];
    size_t s = (size_t) t->in;
    if (t->op != CLAR_OP_BATCHNORM2D)
      continue;
    snprintf (name, sizeof name, "bn.%s.running_mean", t->name);
    rc = clar_st_writer_add (w, name, &s, 1, t->run_mean);
    snprintf (name, sizeof name, "bn.%s.running_var", t->name);
    if (rc == CLAR_OK) rc = clar_st_writer_add (w, name, &s, 1, t->run_var);
  }
  if (rc == CLAR_OK && user && n_user)
    rc = clar_st_writer_add (w, "user", &n_user, 1, user);
  snprintf (v, sizeof v, "%ld", opt ? opt->step : 0L);
  if (rc == CLAR_OK) rc = clar_st_writer_set_metadata (w, "clar.format", "clar-checkpoint");
  if (rc == CLAR_OK) rc = clar_st_writer_set_metadata (w, "adam.step", v);
  if (rc == CLAR_OK) rc = clar_st_writer_set_metadata (w, "clar.architecture", net->arch);
  if (rc != CLAR_OK) {
    clar_st_writer_free (w);
    return clar_set_error (err, rc, "cannot serialise the checkpoint");
  }
  rc = clar_st_writer_save (w, path, err);
  clar_st_writer_free (w);
  return rc;
}

static int
load_into (const clar_st_file *f, const char *name, float *dst, size_t n, clar_error *err)
{
  const clar_st_tensor *t = clar_st_find (f, name);
  if (!t)
    return clar_set_error (err, CLAR_ERR_MISSING_TENSOR, "checkpoint lacks %s", name);
  if (t->n_elements != n)
    return clar_set_error (err, CLAR_ERR_BAD_TENSOR, "checkpoint %s has %zu values, expected %zu",
        name, t->n_elements, n);
  memcpy (dst, t->data, n * sizeof (float));
  return CLAR_OK;
}

int
clar_net_load_checkpoint (clar_net *net, clar_adam *opt, float *user, size_t n_user,
                          const char *path, clar_error *err)
{
  clar_st_file *f = NULL;
  char name[160];
  const char *fmt, *arch, *step;
  int rc;
  if ((rc = clar_st_read_file (path, &f, err)) != CLAR_OK)
    return rc;
  fmt = clar_st_metadata (f, "clar.format");
  arch = clar_st_metadata (f, "clar.architecture");
  if (!fmt || strcmp (fmt, "clar-checkpoint") || !arch || strcmp (arch, net->arch)) {
    clar_st_free (f);
    return clar_set_error (err, CLAR_ERR_BAD_METADATA,
        "%s is not a checkpoint of this architecture", path);
  }
  for (size_t i = 0; i < net->n_params && rc == CLAR_OK; i++) {
    clar_param *p = &net->params[i];
    rc = load_into (f, p->name, p->w, p->n, err);
    snprintf (name, sizeof name, "adam_m.%s", p->name);
    if (rc == CLAR_OK) rc = load_into (f, name, p->m, p->n, err);
    snprintf (name, sizeof name, "adam_v.%s", p->name);
    if (rc == CLAR_OK) rc = load_into (f, name, p->v, p->n, err);
  }
  for (size_t i = 0; i < net->nL && rc == CLAR_OK; i++) {
    tlayer *t = &net->L[i];
    if (t->op != CLAR_OP_BATCHNORM2D)
      continue;
    snprintf (name, sizeof name, "bn.%s.running_mean", t->name);
    rc = load_into (f, name, t->run_mean, (size_t) t->in, err);
    snprintf (name, sizeof name, "bn.%s.running_var", t->name);
    if (rc == CLAR_OK) rc = load_into (f, name, t->run_var, (size_t) t->in, err);
  }
  if (rc == CLAR_OK && user && n_user)
    rc = load_into (f, "user", user, n_user, err);
  step = clar_st_metadata (f, "adam.step");
  if (rc == CLAR_OK && opt)
    opt->step = step ? strtol (step, NULL, 10) : 0;
  clar_st_free (f);
  return rc;
}
