#pragma once
/// \file
/// Umbrella header: the whole library in dependency order,
/// core <- ops <- nn <- {optim, models}, with io beside nn.

// the library's version (R2PLUS1D_VERSION)
#include "r2plus1d/version.hpp"

// core: storage, tensors, shapes, errors, element types, threading, randomness
#include "r2plus1d/core/error.hpp"
#include "r2plus1d/core/shape.hpp"
#include "r2plus1d/core/storage.hpp"
#include "r2plus1d/core/tensor.hpp"
#include "r2plus1d/core/dtype.hpp"
#include "r2plus1d/core/state_dict.hpp"
#include "r2plus1d/core/parallel.hpp"
#include "r2plus1d/core/random.hpp"

// ops: stateless kernels
#include "r2plus1d/ops/conv3d.hpp"
#include "r2plus1d/ops/conv2plus1d.hpp"
#include "r2plus1d/ops/batch_norm3d.hpp"
#include "r2plus1d/ops/relu.hpp"
#include "r2plus1d/ops/adaptive_avg_pool3d.hpp"
#include "r2plus1d/ops/linear.hpp"
#include "r2plus1d/ops/softmax.hpp"
#include "r2plus1d/ops/topk.hpp"
#include "r2plus1d/ops/flops.hpp"
#include "r2plus1d/ops/cross_entropy.hpp"
// ops: gradients for training (GradMode: write or add into the buffer)
#include "r2plus1d/ops/gradient.hpp"
#include "r2plus1d/ops/conv3d_backward.hpp"
#include "r2plus1d/ops/batch_norm3d_backward.hpp"
#include "r2plus1d/ops/relu_backward.hpp"
#include "r2plus1d/ops/adaptive_avg_pool3d_backward.hpp"
#include "r2plus1d/ops/linear_backward.hpp"

// nn: modules with torch's options and state_dict names
#include "r2plus1d/nn/parameter.hpp"
#include "r2plus1d/nn/module.hpp"
#include "r2plus1d/nn/checkpoint.hpp"
#include "r2plus1d/nn/init.hpp"
#include "r2plus1d/nn/conv3d.hpp"
#include "r2plus1d/nn/batch_norm3d.hpp"
#include "r2plus1d/nn/relu.hpp"
#include "r2plus1d/nn/adaptive_avg_pool3d.hpp"
#include "r2plus1d/nn/linear.hpp"
#include "r2plus1d/nn/sequential.hpp"
#include "r2plus1d/nn/train_chain.hpp"

// io: safetensors weights, .npy arrays, torchvision's video preprocessing,
// clip sampling, crops and averaging for video-level evaluation
// (decoding videos, io/video.hpp, needs FFmpeg and is included on its own)
#include "r2plus1d/io/safetensors.hpp"
#include "r2plus1d/io/npy.hpp"
#include "r2plus1d/io/video_preprocess.hpp"
#include "r2plus1d/io/clip_sampling.hpp"
#include "r2plus1d/io/video_crops.hpp"
#include "r2plus1d/io/clip_average.hpp"

// optim: optimizers over the trainable parameters, schedulers, gradient clipping
#include "r2plus1d/optim/optimizer.hpp"
#include "r2plus1d/optim/sgd.hpp"
#include "r2plus1d/optim/adamw.hpp"
#include "r2plus1d/optim/lr_scheduler.hpp"
#include "r2plus1d/optim/clip_grad.hpp"

// models: the R(2+1)D module hierarchy of the reference notes
#include "r2plus1d/models/spatio_temporal_conv.hpp"
#include "r2plus1d/models/spatio_temporal_res_block.hpp"
#include "r2plus1d/models/spatio_temporal_res_layer.hpp"
#include "r2plus1d/models/r2plus1d_net.hpp"
#include "r2plus1d/models/r2plus1d_classifier.hpp"

// models: torchvision's video ResNets (r2plus1d_18, r3d_18, mc3_18)
#include "r2plus1d/models/video_convs.hpp"
#include "r2plus1d/models/basic_block.hpp"
#include "r2plus1d/models/video_resnet.hpp"
#include "r2plus1d/models/kinetics400.hpp"
#include "r2plus1d/models/architecture.hpp"
