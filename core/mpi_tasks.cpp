#include "core/mpi_tasks.hpp"

#include <cstdlib>
#include <string>

#ifdef DPOSG_HAVE_MPI
#include <mpi.h>
#endif

namespace dposg {

int mpi_world_size_from_environment() {
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE", "MPI_LOCALNRANKS"})
    if (const char* v = std::getenv(name)) {
      const int n = std::atoi(v);
      if (n > 0) return n;
    }
  return 1;
}

int mpi_world_rank_from_environment() {
  for (const char* name : {"OMPI_COMM_WORLD_RANK", "PMI_RANK", "PMIX_RANK"})
    if (const char* v = std::getenv(name)) return std::atoi(v);
  return 0;
}

namespace {
constexpr int kRequestTag = 7101, kReplyTag = 7102;
}

MpiTaskQueue::MpiTaskQueue(const MpiSession& session, std::vector<std::size_t> tasks)
    : session_(session), tasks_(std::move(tasks)) {
  if (session_.rank() == 0 && session_.size() > 1) server_ = std::thread([this] { serve(); });
}

MpiTaskQueue::~MpiTaskQueue() {
  if (server_.joinable()) server_.join();
}

void MpiTaskQueue::serve() {
#ifdef DPOSG_HAVE_MPI
  int finished = 0;
  while (finished < session_.size() - 1) {
    int request = 0;
    MPI_Status st;
    MPI_Recv(&request, 1, MPI_INT, MPI_ANY_SOURCE, kRequestTag, MPI_COMM_WORLD, &st);
    // request 0: the rank leaves (no task is consumed for it).
    const std::size_t i = request ? next_.fetch_add(1) : tasks_.size();
    long long reply = i < tasks_.size() ? static_cast<long long>(tasks_[i]) : -1;
    if (reply < 0) ++finished;
    MPI_Send(&reply, 1, MPI_LONG_LONG, st.MPI_SOURCE, kReplyTag, MPI_COMM_WORLD);
  }
#endif
}

std::optional<std::size_t> MpiTaskQueue::next() {
  if (done_) return std::nullopt;
  if (session_.rank() == 0 || session_.size() == 1) {
    const std::size_t i = next_.fetch_add(1);
    if (i < tasks_.size()) return tasks_[i];
    done_ = true;
    return std::nullopt;
  }
#ifdef DPOSG_HAVE_MPI
  int request = 1;
  long long reply = -1;
  MPI_Send(&request, 1, MPI_INT, 0, kRequestTag, MPI_COMM_WORLD);
  MPI_Recv(&reply, 1, MPI_LONG_LONG, 0, kReplyTag, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
  if (reply >= 0) return static_cast<std::size_t>(reply);
#endif
  done_ = true;
  return std::nullopt;
}

void MpiTaskQueue::leave() {
  if (done_) return;
  done_ = true;
  if (session_.rank() == 0 || session_.size() == 1) return;
#ifdef DPOSG_HAVE_MPI
  int request = 0;
  long long reply = -1;
  MPI_Send(&request, 1, MPI_INT, 0, kRequestTag, MPI_COMM_WORLD);
  MPI_Recv(&reply, 1, MPI_LONG_LONG, 0, kReplyTag, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
#endif
}

}  // namespace dposg
