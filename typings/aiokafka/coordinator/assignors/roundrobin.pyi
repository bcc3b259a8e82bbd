from aiokafka.coordinator.assignors.abstract import AbstractPartitionAssignor

class RoundRobinPartitionAssignor(AbstractPartitionAssignor):
    @property
    def name(self) -> str: ...
