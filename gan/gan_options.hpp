#pragma once
// The options of the GAN problems (gan/gan_problem.hpp documents their use). app/problem_catalog.hpp
// combines them with the synthetic problems' options into the run's problem choice.
#include <string>

#include "core/types.hpp"

namespace dposg::gan {

struct GanOptions {
  std::string gan_arch = "mlp";          // mlp | dcgan (gan/conv_net.hpp; image data sets)
  std::string gan_loss = "ns";           // ns (non-saturating) | wgan-clip | wgan-gp
  Index gan_width = 128;                 // hidden units per layer, generator and discriminator
  Index gan_depth = 2;                   // hidden layers, generator and discriminator
  Index gan_latent = 2;                  // generator input (latent) dimension
  std::string gan_activation = "relu";   // relu | leaky-relu (slope 0.2) | tanh
  double gan_gp_lambda = 10.0;           // wgan-gp: penalty weight lambda
  double gan_clip = 0.01;                // wgan-clip: critic weights act through clip(v, -c, c)
  bool gan_shard = false;                // each worker samples only its own subset of the modes
  int gan_downscale = 2;                 // gan-fashion: images downscaled by this factor (28 / f pixels a side)
  std::string gan_classifier;
  std::string data_dir;                  // gan-cifar10: the folder of the CIFAR-10 binary files            // gan-fashion: classifier file for fd_classifier ("" = the cache)
  std::string device = "cpu";            // cpu | cpu-float | cuda: where a GAN's operator runs (gan/README.md)
  // device cuda: the GPU ordinal. Not an option: 0 in one process; under --backend mpi, the rank's
  // local rank mod the host's device count (app/placement.cpp).
  int cuda_device = 0;
};

}  // namespace dposg::gan
